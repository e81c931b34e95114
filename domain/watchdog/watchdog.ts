/**
 * Watchdogs: the pure domain logic, in one import.
 *
 *   watchdog-status       one status value: names, levels, messages, times, format/parse
 *   watchdog-health       aggregation (AutoCrane's fold) and the health label value
 *   watchdog-probe        probe declarations, probe URLs, which pods to probe, what to write
 *   watchdog-annotations  all watchdogs of a pod, and the merge patch that writes some
 *
 * No I/O, no clock, no Node built-ins: safe to import from Temporal workflows.
 */
export * from './watchdog-status';
export * from './watchdog-health';
export * from './watchdog-probe';
export * from './watchdog-annotations';
