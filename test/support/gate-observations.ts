/** Times and pod observations for the tests of the stage gate: seconds after one fixed instant. */
import type { PodObservation } from '../../domain/gate/stage-gate';

export const T0 = '2026-05-01T12:00:00Z';
export const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);
export const iso = (seconds: number) => at(seconds).toISOString();

/** A ready pod, ready since T0, with one declared probe and no watchdog status. */
export const pod = (name: string, over: Partial<PodObservation> = {}): PodObservation => ({
  name,
  ready: true,
  readySince: iso(0),
  watchdogs: [],
  probes: ['http'],
  ...over,
});
