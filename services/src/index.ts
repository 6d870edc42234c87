// The services package's public entry point: each service adds its exports here.
export * from './offerings/index.js';
export * from './energy/index.js';
export * from './exchange/index.js';
export * from './whiteflag/index.js';
