import { createHash } from 'node:crypto';
import { type DeviceCharacteristics, deviceFingerprint } from '@tessera/protocol';
import type { Rng } from './rng.js';

/**
 * Realistic, varied device characteristics: a catalogue of gateway models from a few vendors, each with its own MAC
 * prefix (IEEE OUI), serial format, hardware revisions and firmware releases. Devices of the same model and firmware
 * release share a firmware hash (as real images do); serials and MACs are unique within a fleet.
 */
interface ModelSpec {
  model: string;
  vendor: string;
  /** IEEE OUI (first three octets of the MAC). */
  oui: string;
  serialPrefix: string;
  hardwareRevisions: readonly string[];
  /** Firmware releases, oldest first; newer ones are more common in the field. */
  firmware: readonly string[];
  /** Share of the fleet. */
  weight: number;
}

export const DEVICE_CATALOGUE: readonly ModelSpec[] = [
  {
    model: 'SMGW-1000',
    vendor: 'Tessera Metering',
    oui: '70b3d5',
    serialPrefix: 'SMG',
    hardwareRevisions: ['r1', 'r2', 'r2b', 'r3'],
    firmware: ['1.4.2', '1.5.0', '1.5.1', '2.0.3'],
    weight: 40,
  },
  {
    model: 'EVSE-22K',
    vendor: 'Voltlane',
    oui: '0c8b95',
    serialPrefix: 'EV22',
    hardwareRevisions: ['A', 'B', 'C1'],
    firmware: ['3.1.0', '3.2.4', '3.3.0'],
    weight: 20,
  },
  {
    model: 'PV-INV-8K',
    vendor: 'Sunmesh',
    oui: 'a4cf12',
    serialPrefix: 'SMI8',
    hardwareRevisions: ['HW1.0', 'HW1.1', 'HW2.0'],
    firmware: ['0.9.12', '1.0.0', '1.0.7', '1.1.2'],
    weight: 20,
  },
  {
    model: 'HP-CTL-3',
    vendor: 'Nordwarm',
    oui: '001bc5',
    serialPrefix: 'NWH3',
    hardwareRevisions: ['rev5', 'rev6'],
    firmware: ['5.0.1', '5.1.0'],
    weight: 12,
  },
  {
    model: 'BESS-GW-50',
    vendor: 'Gridcell',
    oui: 'd8a01d',
    serialPrefix: 'GCB',
    hardwareRevisions: ['v1', 'v2'],
    firmware: ['2.2.0', '2.3.1', '2.4.0'],
    weight: 8,
  },
];

/** A generated device: what it is (characteristics) and what it measures (its fingerprint). No secrets here. */
export interface GeneratedDevice {
  index: number;
  vendor: string;
  firmwareVersion: string;
  characteristics: DeviceCharacteristics & { mac: string };
  fingerprint: string;
}

/** The sha256 of a firmware image, stood in for by a hash of model and release (same release, same hash). */
export function firmwareHashOf(model: string, version: string): string {
  return createHash('sha256').update(`firmware-image:${model}@${version}`).digest('hex');
}

const macOf = (oui: string, nic: Buffer) => `${oui}${nic.toString('hex')}`.replace(/(..)(?!$)/g, '$1:');

/**
 * Generate `count` devices from `rng`. Serials are `PREFIX-YYWW-NNNNNN` (production week and a per-model sequence);
 * the firmware release is skewed towards the newest (a field fleet lags behind updates).
 *
 * @example generateDevices(seededRng('fleet-1'), 1000)
 */
export function generateDevices(rng: Rng, count: number, options: { serialTag?: string } = {}): GeneratedDevice[] {
  const weights = DEVICE_CATALOGUE.map((m) => m.weight);
  const seq = new Map<string, number>();
  const macs = new Set<string>();
  const out: GeneratedDevice[] = [];
  for (let index = 0; index < count; index++) {
    const m = rng.pick(DEVICE_CATALOGUE, weights);
    const n = (seq.get(m.model) ?? rng.int(1000, 9000)) + rng.int(1, 3);
    seq.set(m.model, n);
    const week = `${rng.int(22, 26)}${String(rng.int(1, 52)).padStart(2, '0')}`;
    const serial = `${m.serialPrefix}-${week}-${options.serialTag ?? ''}${n.toString(36).toUpperCase().padStart(6, '0')}`;
    const fwWeights = m.firmware.map((_, i) => 1 + i * i);
    const firmwareVersion = rng.pick(m.firmware, fwWeights);
    let mac: string;
    do mac = macOf(m.oui, rng.bytes(3));
    while (macs.has(mac));
    macs.add(mac);
    const characteristics = {
      model: m.model,
      serial,
      hardwareRevision: rng.pick(m.hardwareRevisions),
      firmwareHash: firmwareHashOf(m.model, firmwareVersion),
      mac,
    };
    out.push({
      index,
      vendor: m.vendor,
      firmwareVersion,
      characteristics,
      fingerprint: fingerprintOf(characteristics),
    });
  }
  return out;
}

export function fingerprintOf(c: DeviceCharacteristics): string {
  const fp = deviceFingerprint(c);
  if (!fp.ok) throw new Error(`generated characteristics fail their schema: ${fp.error.message}`);
  return fp.value;
}

/** The next firmware release of a device's model (for the firmware-update scenario); a patch bump past the newest. */
export function nextFirmware(d: GeneratedDevice): { version: string; firmwareHash: string; fingerprint: string } {
  const m = DEVICE_CATALOGUE.find((x) => x.model === d.characteristics.model)!;
  const i = m.firmware.indexOf(d.firmwareVersion);
  const version = i >= 0 && i + 1 < m.firmware.length ? m.firmware[i + 1]! : `${d.firmwareVersion}.1`;
  const firmwareHash = firmwareHashOf(m.model, version);
  return { version, firmwareHash, fingerprint: fingerprintOf({ ...d.characteristics, firmwareHash }) };
}

/** The same model on other hardware: the serial copied, but another board's MAC, as the clone measures itself. */
export function cloneHardware(d: GeneratedDevice, rng: Rng): GeneratedDevice {
  const m = DEVICE_CATALOGUE.find((x) => x.model === d.characteristics.model)!;
  const characteristics = {
    ...d.characteristics,
    mac: macOf(m.oui, rng.bytes(3)),
  };
  return { ...d, characteristics, fingerprint: fingerprintOf(characteristics) };
}
