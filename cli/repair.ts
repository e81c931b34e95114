/**
 * `autocrane repair`: read and steer a namespace's repair workflow through the REST API.
 *
 *   autocrane repair status <namespace> [--json]
 *   autocrane repair pause <namespace> [--reason <text>] [--json]
 *   autocrane repair resume <namespace> [--json]
 */
import type { Command } from 'commander';
import type { RepairStatusBody } from '../api/repair/repair';
import { MAX_PAUSE_REASON_LENGTH } from '../contracts/repair-messages';
import { callApi, report, table, targetOf, withConnectionOptions, type ApiTarget, type ConnectionOptions } from './api-client';
import { parseNamespace, reasonParser } from './options';

const parseReason = reasonParser(MAX_PAUSE_REASON_LENGTH);

const repairPath = (namespace: string) => `/v1/namespaces/${encodeURIComponent(namespace)}/repair`;

export const getRepair = (target: ApiTarget, namespace: string) => callApi<RepairStatusBody>(target, 'GET', repairPath(namespace));
export const pauseRepair = (target: ApiTarget, namespace: string, reason: string | undefined) =>
  callApi<RepairStatusBody>(target, 'POST', `${repairPath(namespace)}/pause`, reason === undefined ? {} : { reason });
export const resumeRepair = (target: ApiTarget, namespace: string) =>
  callApi<RepairStatusBody>(target, 'POST', `${repairPath(namespace)}/resume`);

const section = (title: string, rows: string[][], empty: string) =>
  `\n${title}\n${rows.length <= 1 ? `  ${empty}` : table(rows).replace(/^/gm, '  ')}\n`;

export function formatRepairStatus(body: RepairStatusBody): string {
  const p = body.policy;
  const head = [
    `Namespace:  ${body.namespace}   (workflow ${body.workflowId})`,
    `State:      ${body.paused ? `PAUSED${body.pauseReason ? ` (${body.pauseReason})` : ''}` : 'repairing'}`,
    `Policy:     evict after ${p.failingSweeps} failing sweeps of ${p.intervalSeconds} s; limits ${p.workloadLimit}/workload, ${p.namespaceLimit}/namespace per ${p.limitWindowSeconds} s; unprotected pods: ${p.unprotectedPods}`,
    `Sweeps:     ${body.sweep}, last at ${body.lastSweepAt ?? '-'}${body.lastError ? `; last error: ${body.lastError}` : ''}`,
    `Totals:     ${body.totals.evicted} evicted, ${body.totals.refused} refused, ${body.totals.failed} failed, ${body.totals.gone} already gone`,
    ...(body.temporalUiUrl ? [`Temporal:   ${body.temporalUiUrl}`] : []),
  ].join('\n');
  const failing = [
    ['POD', 'WORKLOAD', 'SWEEPS', 'SINCE', 'WATCHDOGS'],
    ...body.failing.map((f) => [
      f.name,
      f.workload ? `${f.workload.kind}/${f.workload.name}` : '-',
      String(f.failingSweeps),
      f.failingSince,
      f.watchdogs.map((w) => w.name).join(','),
    ]),
  ];
  const held = [['POD', 'REASON', 'DETAIL'], ...body.heldBack.map((h) => [h.name, h.reason, h.detail])];
  const evictions = [
    ['TIME', 'POD', 'WORKLOAD', 'WATCHDOGS', 'FAILING SINCE'],
    ...body.recentEvictions.map((e) => [e.at, e.name, e.workload, e.watchdogs.join(','), e.failingSince]),
  ];
  const refusals = [
    ['TIME', 'POD', 'RESULT', 'ATTEMPT', 'MESSAGE'],
    ...body.refusals.map((r) => [r.at, r.name, `${r.result}${r.httpStatus ? ` (${r.httpStatus})` : ''}`, String(r.attempt), r.message]),
  ];
  return (
    head +
    '\n' +
    section('Failing pods:', failing, 'none') +
    section('Held back in the last sweep:', held, 'none') +
    section('Recent evictions:', evictions, 'none') +
    section('Refused or failed evictions:', refusals, 'none')
  );
}

export function registerRepairCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const repair = program
    .command('repair')
    .description("Read and steer a namespace's repair (eviction of pods whose error watchdogs persist).");

  withConnectionOptions(
    repair
      .command('status')
      .description('Failing counts, held-back pods, recent evictions and refusals.')
      .argument('<namespace>', 'Kubernetes namespace', parseNamespace),
  ).action(async function (this: Command, namespace: string) {
    const options = this.opts<ConnectionOptions>();
    await report(() => getRepair(targetOf(this, options, env), namespace), formatRepairStatus, options.json);
  });

  withConnectionOptions(
    repair
      .command('pause')
      .description('Stop evictions in the namespace (failing pods are still counted).')
      .argument('<namespace>', 'Kubernetes namespace', parseNamespace)
      .option('--reason <text>', 'why, shown in the status', parseReason),
  ).action(async function (this: Command, namespace: string) {
    const options = this.opts<ConnectionOptions & { reason?: string }>();
    await report(() => pauseRepair(targetOf(this, options, env), namespace, options.reason), formatRepairStatus, options.json);
  });

  withConnectionOptions(
    repair.command('resume').description('Let evictions resume at once.').argument('<namespace>', 'Kubernetes namespace', parseNamespace),
  ).action(async function (this: Command, namespace: string) {
    const options = this.opts<ConnectionOptions>();
    await report(() => resumeRepair(targetOf(this, options, env), namespace), formatRepairStatus, options.json);
  });

  return repair;
}
