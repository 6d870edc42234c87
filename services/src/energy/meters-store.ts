import { type DataSource, EntitySchema, type MigrationInterface, type QueryRunner } from 'typeorm';
import type { MeterRegistration } from './market-service.js';
import { EnergyMarketMigration1763900000000 } from './market-store.js';

/**
 * Metering points admitted to the stack's market: which participant trades for a meter, its nameplate (from the
 * participant's EnergyProsumer credential) and the gateway device whose readings count for it. (Order books, readings
 * and period outcomes are in `market-store.ts`.)
 */
export interface MeterRow {
  meterId: string;
  participant: string;
  deviceId: string;
  nameplateW: number;
  updatedAt: string;
}

export const MeterEntity = new EntitySchema<MeterRow>({
  name: 'EnergyMeter',
  tableName: 'tessera_energy_meter',
  columns: {
    meterId: { type: 'varchar', length: 64, primary: true, name: 'meter_id' },
    participant: { type: 'varchar', length: 512, name: 'participant' },
    deviceId: { type: 'varchar', length: 66, name: 'device_id', unique: true },
    nameplateW: { type: 'bigint', name: 'nameplate_w', transformer: { to: (v: number) => v, from: (v) => Number(v) } },
    updatedAt: { type: 'varchar', length: 32, name: 'updated_at' },
  },
});

export class EnergyMetersMigration1763800000000 implements MigrationInterface {
  name = 'EnergyMetersMigration1763800000000';
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tessera_energy_meter (
      meter_id varchar(64) PRIMARY KEY, participant varchar(512) NOT NULL, device_id varchar(66) NOT NULL,
      nameplate_w bigint NOT NULL, updated_at varchar(32) NOT NULL)`);
    // a gateway reports for one meter only
    await q.query('CREATE UNIQUE INDEX tessera_energy_meter_device ON tessera_energy_meter (device_id)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE tessera_energy_meter');
  }
}

export const energyDatabaseParts = {
  entities: [MeterEntity],
  migrations: [EnergyMetersMigration1763800000000, EnergyMarketMigration1763900000000],
};

export class MeterStore {
  constructor(private readonly ds: DataSource) {}

  private get repo() {
    return this.ds.getRepository(MeterEntity);
  }

  async all(): Promise<MeterRegistration[]> {
    return (await this.repo.find()).map(({ updatedAt: _u, ...m }) => m);
  }

  async get(meterId: string): Promise<MeterRow | null> {
    return this.repo.findOneBy({ meterId });
  }

  async byDevice(deviceId: string): Promise<MeterRow | null> {
    return this.repo.findOneBy({ deviceId });
  }

  async save(m: MeterRegistration & { deviceId: string }): Promise<MeterRow> {
    const row: MeterRow = { ...m, updatedAt: new Date().toISOString() };
    await this.repo.save(row);
    return row;
  }
}
