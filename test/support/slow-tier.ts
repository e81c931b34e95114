// Tiers that drive real servers wait on controllers, timers and restarts: Jest's 5 s default
// would fail them for being slow, not wrong. (A per-project testTimeout is ignored by Jest.)
jest.setTimeout(180_000);
