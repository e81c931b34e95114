/**
 * `autocrane data`: read and steer the data rollouts of a source in a namespace through the
 * REST API.
 *
 *   autocrane data status <namespace> <source> [--json]
 *   autocrane data start  <namespace> <source> [--version <id>] [--stage <pods:probation>]… [--max-error-pods n] [--ack-timeout d] [--reason text]
 *   autocrane data pause|resume|abort <namespace> <source> [--reason text]
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { DataRolloutStatusBody } from '../api/data/data-rollouts';
import { sourceNameError, versionIdError } from '../domain/data/data-contract';
import type { DataStage } from '../domain/data/data-rollout';
import { MAX_DATA_CONTROL_REASON_LENGTH, type DataStartRequest } from '../contracts/data-rollout-messages';
import { callApi, report, table, targetOf, withConnectionOptions, type ApiTarget, type ConnectionOptions } from './api-client';
import { parseCount, parseDuration, parseNamespace, parseStage, reasonParser } from './options';

function parseSource(value: string): string {
  const problem = sourceNameError(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

function parseVersion(value: string): string {
  const problem = versionIdError(value);
  if (problem !== null) throw new InvalidArgumentError(`${problem}.`);
  return value;
}

const parseReason = reasonParser(MAX_DATA_CONTROL_REASON_LENGTH);

/** `1:5m` or `25%:60`: the pods (a count or a share of the consumers) and the probation. */
export function parseDataStage(value: string, previous: DataStage[] = []): DataStage[] {
  const { replicas, bakeSeconds } = parseStage(value);
  return [...previous, { pods: replicas, probationSeconds: bakeSeconds }];
}

const dataPath = (namespace: string, source: string) =>
  `/v1/namespaces/${encodeURIComponent(namespace)}/data/${encodeURIComponent(source)}`;

export const getDataRollouts = (target: ApiTarget, namespace: string, source: string) =>
  callApi<DataRolloutStatusBody>(target, 'GET', dataPath(namespace, source));
export const startDataRollout = (target: ApiTarget, namespace: string, source: string, request: DataStartRequest) =>
  callApi<DataRolloutStatusBody>(target, 'POST', `${dataPath(namespace, source)}/start`, request);
export const controlDataRollout = (
  target: ApiTarget,
  namespace: string,
  source: string,
  control: 'pause' | 'resume' | 'abort',
  reason: string | undefined,
) => callApi<DataRolloutStatusBody>(target, 'POST', `${dataPath(namespace, source)}/${control}`, reason === undefined ? {} : { reason });

const release = (r: DataRolloutStatusBody['lkg']) =>
  r === null ? '-' : `${r.version.id} (${r.version.size} bytes, ${r.version.origin.kind} ${r.version.origin.ref})`;

export function formatDataRolloutStatus(body: DataRolloutStatusBody): string {
  const s = body.settings;
  const lines = [
    `Source:     ${body.source} in namespace ${body.namespace}   (workflow ${body.workflowId})`,
    `LKG:        ${release(body.lkg)}`,
    `Latest:     ${release(body.latest)}`,
    ...(s
      ? [
          `Settings:   auto-start ${s.autoStart ? 'on' : 'off'}; stages ${s.stages.map((st) => `${st.pods}:${st.probationSeconds}s`).join(', ')}`,
        ]
      : []),
    ...(body.temporalUiUrl ? [`Temporal:   ${body.temporalUiUrl}`] : []),
  ];
  const run = body.rollout;
  if (run) {
    lines.push(
      '',
      `Rollout #${run.number}: ${run.version}  ${run.state.toUpperCase()}  stage ${run.stage + 1}/${run.stages.length}, ${run.upgradedCount} pods on it (started ${run.startedAt} by ${run.startedBy})`,
      table([
        ['STAGE', 'PODS', 'COUNT', 'PROBATION', 'RESULT', 'PROBATION FROM', 'REASON'],
        ...run.stages.map((st) => [
          String(st.index + 1),
          st.pods,
          st.count === null ? '-' : String(st.count),
          `${st.probationSeconds}s`,
          st.result,
          st.probationStartedAt ?? '-',
          st.reason ?? '',
        ]),
      ]).replace(/^/gm, '  '),
    );
  } else {
    lines.push('', 'No rollout in progress.');
  }
  if (body.recent.length > 0) {
    lines.push(
      '',
      'Recent rollouts:',
      table([
        ['#', 'VERSION', 'STATE', 'ENDED', 'REASON'],
        ...body.recent.map((r) => [String(r.number), r.version, r.state, r.endedAt ?? '-', r.reason ?? '']),
      ]).replace(/^/gm, '  '),
    );
  }
  if (body.decisions.length > 0) {
    lines.push(
      '',
      `Decisions${body.decisionsDropped > 0 ? ` (${body.decisionsDropped} older ones dropped)` : ''}:`,
      table([
        ['TIME', 'KIND', 'VERSION', 'REASON'],
        ...body.decisions.map((d) => [d.at, d.kind, d.version ?? '-', `${d.reason}${d.by ? ` (by ${d.by})` : ''}`]),
      ]).replace(/^/gm, '  '),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function registerDataRolloutCommand(program: Command, env: NodeJS.ProcessEnv = process.env): Command {
  const data = program.command('data').description('Read and steer the staged data rollouts of a source in a namespace.');
  const args = (command: Command) =>
    command.argument('<namespace>', 'Kubernetes namespace', parseNamespace).argument('<source>', 'data source name', parseSource);

  withConnectionOptions(
    args(data.command('status').description('LKG and latest versions, the rollout in progress, recent rollouts and decisions.')),
  ).action(async function (this: Command, namespace: string, source: string) {
    const options = this.opts<ConnectionOptions>();
    await report(() => getDataRollouts(targetOf(this, options, env), namespace, source), formatDataRolloutStatus, options.json);
  });

  withConnectionOptions(
    args(
      data
        .command('start')
        .description(
          'Roll a version out in stages (default: the latest, with the configured stages); a running rollout of another version is superseded.',
        ),
    )
      .option('--version <id>', 'the version to roll out (default: the latest announced)', parseVersion)
      .option('--stage <pods:probation>', 'a stage: 1:5m, 25%:60 (repeatable, in order)', parseDataStage)
      .option('--max-error-pods <n>', 'pods the gate tolerates in error watchdogs (default 0)', parseCount)
      .option('--ack-timeout <duration>', 'how long a stage waits for acknowledgements (default 10m)', (v: string) => parseDuration(v))
      .option('--reason <text>', 'why, for the decision log', parseReason),
  ).action(async function (this: Command, namespace: string, source: string) {
    const options = this.opts<
      ConnectionOptions & { version?: string; stage?: DataStage[]; maxErrorPods?: number; ackTimeout?: number; reason?: string }
    >();
    const request: DataStartRequest = {
      ...(options.version !== undefined && { version: options.version }),
      ...(options.stage !== undefined && { stages: options.stage }),
      ...(options.maxErrorPods !== undefined && { maxErrorPods: options.maxErrorPods }),
      ...(options.ackTimeout !== undefined && { ackTimeoutSeconds: options.ackTimeout }),
      ...(options.reason !== undefined && { reason: options.reason }),
    };
    await report(() => startDataRollout(targetOf(this, options, env), namespace, source, request), formatDataRolloutStatus, options.json);
  });

  const controls = {
    pause: 'Hold the rollout at its next step (the gate is still watched; a failure still reverts).',
    resume: 'Go on from where the pause held.',
    abort: 'Stop the rollout and send every upgraded pod back to the LKG.',
  } as const;
  for (const [name, description] of Object.entries(controls) as ['pause' | 'resume' | 'abort', string][]) {
    withConnectionOptions(
      args(data.command(name).description(description)).option('--reason <text>', 'why, for the decision log', parseReason),
    ).action(async function (this: Command, namespace: string, source: string) {
      const options = this.opts<ConnectionOptions & { reason?: string }>();
      await report(
        () => controlDataRollout(targetOf(this, options, env), namespace, source, name, options.reason),
        formatDataRolloutStatus,
        options.json,
      );
    });
  }

  return data;
}
