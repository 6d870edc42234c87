import { type ErrorShape, MAX_DEVICE_BATCH, type Result } from '@tessera/protocol';
import express, { type RequestHandler, type Response, Router } from 'express';
import type { DeviceCaller, DeviceLifecycle } from '../devices/lifecycle.js';
import type { Issuer } from '../issuer.js';
import type { AdminRole, Principal } from './auth.js';

/** A registration body of MAX_DEVICE_BATCH devices is larger than the API's default body limit. */
export const DEVICE_BATCH_MAX_BODY_BYTES = MAX_DEVICE_BATCH * 1024;
export const DEVICE_BATCH_PATH = '/devices/batches';

export interface DeviceRoutesDeps {
  issuer: Issuer;
  /** Absent when the issuer runs without an outbox or a DeviceRegistry: every route answers ERR_UNAVAILABLE. */
  devices?: DeviceLifecycle;
  guard(...roles: AdminRole[]): RequestHandler;
  send<T>(res: Response, r: Result<T>, status?: number): void;
  sendError(res: Response, e: ErrorShape): void;
}

/**
 * The device lifecycle endpoints (DESIGN §4): a manufacturer registers a batch and receives each secret once; an
 * owner commissions; an operator suspends, resumes and revokes; an owner or operator decommissions.
 */
export function deviceRoutes(d: DeviceRoutesDeps): Router {
  const router = Router();
  const { guard, send } = d;

  /** The caller as the lifecycle sees it: its DID, roles, and the device DIDs of its DeviceOwnerCredentials. */
  const callerOf = async (res: Response): Promise<DeviceCaller> => {
    const p = res.locals.principal as Principal;
    const ownedDeviceDids: string[] = [];
    if (p.roles.includes('DeviceOwnerCredential')) {
      for (const id of p.credentialIds) {
        const c = await d.issuer.get(id);
        if (c.ok && c.value.type === 'DeviceOwnerCredential' && c.value.status === 'active') {
          const device = (c.value.claims as { device?: unknown }).device;
          if (typeof device === 'string') ownedDeviceDids.push(device.toLowerCase());
        }
      }
    }
    return { did: p.did, roles: p.roles, ownedDeviceDids };
  };
  const lifecycle = (res: Response): DeviceLifecycle | undefined => {
    if (!d.devices) {
      d.sendError(res, { code: 'ERR_UNAVAILABLE', message: 'device lifecycle needs the outbox and a DeviceRegistry' });
    }
    return d.devices;
  };

  router.post(
    DEVICE_BATCH_PATH,
    // Authenticate first: nobody unauthenticated gets up to DEVICE_BATCH_MAX_BODY_BYTES of JSON parsed.
    guard('ManufacturerCredential'),
    express.json({ limit: DEVICE_BATCH_MAX_BODY_BYTES, strict: true }),
    async (req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l.register(req.body, await callerOf(res)), 201);
    },
  );
  router.get(
    '/devices/:id',
    guard('AdminCredential', 'OperatorCredential', 'ManufacturerCredential', 'DeviceOwnerCredential'),
    async (req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l.get(String(req.params.id), await callerOf(res)));
    },
  );
  router.post('/devices/:id/commission', guard('DeviceOwnerCredential'), async (req, res) => {
    const l = lifecycle(res);
    if (l) send(res, await l.commission(String(req.params.id), req.body, await callerOf(res)));
  });
  for (const action of ['suspend', 'resume', 'revoke'] as const) {
    router.post(`/devices/:id/${action}`, guard('OperatorCredential'), async (req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l[action](String(req.params.id), await callerOf(res)));
    });
  }
  router.post('/devices/:id/decommission', guard('OperatorCredential', 'DeviceOwnerCredential'), async (req, res) => {
    const l = lifecycle(res);
    if (l) send(res, await l.decommission(String(req.params.id), await callerOf(res)));
  });
  return router;
}
