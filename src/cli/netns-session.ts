/**
 * The lifecycle `tunstack up` and `tunstack relay` share around the network namespace they run
 * in: claim it (the owner file, src/cli/owner.ts: a second run on a live one is refused, what a
 * killed run left is reclaimed), create it when it is missing, and undo in reverse order on
 * close, the namespace last. A synchronous safety net removes what was created if the process
 * exits without an orderly close (a second Ctrl-C, an uncaught exception).
 */
import { spawnSync } from 'node:child_process';
import * as netns from '../link/netns.ts';
import type { Logger } from './logger.ts';
import { claimNetns } from './owner.ts';

export interface NetnsSession {
  /** The namespace was made by this session (and is removed by close()). */
  readonly created: boolean;
  /** Undone by close(), last deferred first; a failing step is logged and the rest go on. */
  defer(step: () => Promise<void> | void): void;
  /** Also done, synchronously, if the process exits without close() (a file, a socket path). */
  atExit(step: () => void): void;
  /** Undo everything, remove the namespace if it was made here, release the claim. */
  close(): Promise<void>;
}

/**
 * Claim namespace `name` and create it if it does not exist (unless `inContainer`: then the
 * namespace this process is in is used and never created or removed).
 */
export async function openNetnsSession(
  name: string,
  o: { inContainer?: boolean; logger: Logger },
): Promise<NetnsSession> {
  const { logger } = o;
  const claim = await claimNetns(name, { inContainer: o.inContainer, logger });
  let created = false;
  let removed = false;
  const exitSteps: (() => void)[] = [];
  const onExit = () => {
    for (const step of exitSteps) {
      try {
        step();
      } catch {}
    }
    if (created && !removed) spawnSync('ip', ['netns', 'delete', name]);
    claim.release();
  };
  process.on('exit', onExit);
  try {
    created = !o.inContainer && !(await netns.exists(name));
    if (created) {
      claim.setCreated(true); // before creating: a SIGKILL from here on is reclaimed next time
      await netns.create(name);
      logger.info({ netns: name }, 'created network namespace');
    }
  } catch (err) {
    onExit();
    process.off('exit', onExit);
    throw err;
  }
  const undo: (() => Promise<void> | void)[] = [];
  return {
    created,
    defer: (step) => {
      undo.push(step);
    },
    atExit: (step) => {
      exitSteps.push(step);
    },
    async close() {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch (err) {
          logger.warn({ err }, 'cleanup step');
        }
      }
      undo.length = 0;
      if (created && !removed) {
        await netns.remove(name).catch((err) => logger.warn({ err }, 'removing namespace'));
        removed = true;
        logger.info({ netns: name }, 'removed network namespace');
      }
      onExit();
      process.off('exit', onExit);
    },
  };
}
