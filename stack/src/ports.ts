import { createServer } from 'node:net';
import { TesseraError } from '@tessera/protocol';

/** Fail early, in one line naming the variable to change, when a configured port is taken. */
export function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      reject(portError(host, port, variable, e));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function portError(host: string, port: number, variable: string, e: NodeJS.ErrnoException): TesseraError {
  if (e.code === 'EADDRINUSE') {
    return new TesseraError(
      'ERR_PORT_IN_USE',
      `port ${port} on ${host} is already in use; set ${variable} to a free port`,
    );
  }
  if (e.code === 'EACCES') {
    return new TesseraError(
      'ERR_PORT_IN_USE',
      `port ${port} on ${host} needs privileges; set ${variable} to a port above 1023`,
    );
  }
  return new TesseraError('ERR_PORT_IN_USE', `cannot listen on ${host}:${port} (${e.code}); check ${variable}`, {
    cause: e,
  });
}
