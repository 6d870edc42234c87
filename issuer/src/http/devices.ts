import { type ErrorShape, MAX_DEVICE_BATCH, type Result } from '@tessera/protocol';
import { jsonBody } from '@tessera/runtime/http';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { DeviceCaller, DeviceLifecycle, PendingDeviceOperation } from '../devices/lifecycle.js';
import type { Principal } from './auth.js';

/** A registration body of MAX_DEVICE_BATCH devices is larger than the API's default body limit. */
export const DEVICE_BATCH_MAX_BODY_BYTES = MAX_DEVICE_BATCH * 1024;
export const DEVICE_BATCH_PATH = '/devices/batches';

export interface DeviceRoutesDeps {
  /** Absent when the issuer runs without an outbox or a DeviceRegistry: every route answers ERR_UNAVAILABLE. */
  devices?: DeviceLifecycle;
  /** The credential core's guard for an issuer resource (`/devices/:id`, relative to `/issuer`). */
  guard(resource: string): RequestHandler[];
  send<T>(res: Response, r: Result<T>, status?: number): void;
  sendError(res: Response, e: ErrorShape): void;
}

/**
 * The device lifecycle endpoints: a manufacturer registers a batch and receives each secret once; an
 * owner commissions; an operator suspends, resumes and revokes; an owner or operator decommissions.
 */
export function deviceRoutes(d: DeviceRoutesDeps): Router {
  const router = Router();
  const { guard, send } = d;

  /** The caller as the lifecycle sees it: its DID, roles, and the device DIDs of its DeviceOwnerCredentials. */
  const callerOf = async (res: Response): Promise<DeviceCaller> => {
    // The guard checked the token's credentials are live (status) and meet this route's policy.
    const p = res.locals.principal as Principal;
    return { did: p.did, roles: p.roles, ownedDeviceDids: p.ownedDeviceDids };
  };
  /**
   * The caller's request id (`Idempotency-Key`): repeating a registration or commissioning with it returns the result
   * of the first one, finishing it if a crash or an outage interrupted it, instead of doing it twice.
   */
  const requestIdOf = (req: Request): string | undefined => {
    const k = req.get('idempotency-key');
    return k && /^[\x21-\x7e]{1,128}$/.test(k) ? k : undefined;
  };
  /** 202 with the request id to repeat while the chain write is pending; the result otherwise. */
  const sendOperation = <T extends object>(res: Response, r: Result<T | PendingDeviceOperation>, status: number) => {
    if (r.ok && 'pending' in r.value) {
      res.status(202).json(r.value);
      return;
    }
    send(res, r, status);
  };
  const lifecycle = (res: Response): DeviceLifecycle | undefined => {
    if (!d.devices) {
      d.sendError(res, { code: 'ERR_UNAVAILABLE', message: 'device lifecycle needs the outbox and a DeviceRegistry' });
    }
    return d.devices;
  };

  router.post(
    DEVICE_BATCH_PATH,
    ...guard(DEVICE_BATCH_PATH),
    jsonBody({ limit: DEVICE_BATCH_MAX_BODY_BYTES }),
    async (req, res) => {
      const l = lifecycle(res);
      if (l) sendOperation(res, await l.register(req.body, await callerOf(res), requestIdOf(req)), 201);
    },
  );
  router.get('/devices/:id', ...guard('/devices/:id'), async (req, res) => {
    const l = lifecycle(res);
    if (l) send(res, await l.get(String(req.params.id), await callerOf(res)));
  });
  router.post('/devices/:id/commission', ...guard('/devices/:id/commission'), async (req, res) => {
    const l = lifecycle(res);
    if (l)
      sendOperation(
        res,
        await l.commission(String(req.params.id), req.body, await callerOf(res), requestIdOf(req)),
        200,
      );
  });
  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    router.post(`/devices/:id/${action}`, ...guard(`/devices/:id/${action}`), async (req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l[action](String(req.params.id), await callerOf(res)));
    });
  }
  router.post('/devices/:id/decommission', ...guard('/devices/:id/decommission'), async (req, res) => {
    const l = lifecycle(res);
    if (l) send(res, await l.decommission(String(req.params.id), await callerOf(res)));
  });
  return router;
}
