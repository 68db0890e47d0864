/**
 * Node-shaped errors for the socket APIs (src/api/net.ts, src/api/dgram.ts): one place for the
 * errno table and the message format, so TCP and UDP errors read alike.
 */

/** libuv's errno values: Linux's numbers negated (ENOTFOUND is getaddrinfo's EAI_NONAME). */
export const ERRNO: Readonly<Record<string, number>> = {
  EBADF: -9,
  EAGAIN: -11,
  EAFNOSUPPORT: -97,
  EINVAL: -22,
  EPIPE: -32,
  EMSGSIZE: -90,
  ENOPROTOOPT: -92,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ENETUNREACH: -101,
  ECONNRESET: -104,
  ENOBUFS: -105,
  EISCONN: -106,
  ENOTCONN: -107,
  ETIMEDOUT: -110,
  ECONNREFUSED: -111,
  EHOSTUNREACH: -113,
  ENOTFOUND: -3008,
};

/** libuv's descriptions (uv_strerror) of the codes a listen can fail with. */
const UV_MESSAGE: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EAFNOSUPPORT: 'address family not supported',
  EINVAL: 'invalid argument',
};

/**
 * A failed system call, `${syscall} ${code} ${address}:${port}` with code, errno, syscall,
 * address and port, shaped like Node's exceptionWithHostPort (lib/internal/errors.js): the port
 * is left out of the message, and of the fields, when it is 0 or absent. net's listen errors
 * carry libuv's description too (uvExceptionWithHostPort: `listen EADDRNOTAVAIL: address not
 * available 10.9.9.9:80`).
 */
export function sysError(
  code: string,
  syscall: string,
  address?: string,
  port?: number,
): NodeJS.ErrnoException & { address?: string; port?: number } {
  let where = '';
  if (address !== undefined)
    where = port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  const uv = syscall === 'listen' ? UV_MESSAGE[code] : undefined;
  const what = uv === undefined ? code : `${code}: ${uv}`;
  return Object.assign(new Error(`${syscall} ${what}${where}`), {
    code,
    errno: ERRNO[code],
    syscall,
    ...(address !== undefined ? { address } : {}),
    ...(port !== undefined && port > 0 ? { port } : {}),
  });
}

/** A name that is not an address literal (there is no DNS): getaddrinfo's ENOTFOUND, as Node. */
export function notFound(host: string): NodeJS.ErrnoException & { hostname: string } {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
    code: 'ENOTFOUND',
    errno: ERRNO.ENOTFOUND,
    syscall: 'getaddrinfo',
    hostname: host,
  });
}

/** An argument or state error with Node's `code` (ERR_SOCKET_BAD_PORT, ERR_INVALID_ARG_TYPE, …). */
export function nodeError(code: string, message: string, Ctor: ErrorConstructor = Error): Error {
  return Object.assign(new Ctor(message), { code });
}

/**
 * A port as Node's internal validatePort takes it (net and dgram alike): an integer, or a string
 * of one, from 0 (when `allowZero`) or 1 to 65 535; else ERR_SOCKET_BAD_PORT.
 */
export function validatePort(port: unknown, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65_535) {
    throw nodeError(
      'ERR_SOCKET_BAD_PORT',
      `Port should be ${allowZero ? '>= 0' : '> 0'} and < 65536. Received ${String(port)}.`,
      RangeError,
    );
  }
  return n;
}
