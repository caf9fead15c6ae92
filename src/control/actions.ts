import { ALL_SYMBOLS, type Pause, type PauseScope, type TriggerRequest } from './state.ts';

/**
 * Live control, the action model: every change to the control state is one of these, and goes through one apply
 * function (apply.ts), as every verb of Temporal's schedule handle goes through one patch. A command only parses its
 * arguments into an action; the agent's watcher builds the actions it takes by itself (a timed pause ending, a
 * run-now request expiring). A new action is a new member here, its case in apply.ts, and a command that builds it.
 */

/** What every action carries: who acts and why, and the arguments as given (what `audit` shows). */
interface ActionBase {
  /** Who acts, as the audit keeps it: `alice@trading-1`, `risk desk (alice@trading-1)`, `agent <owner>`, `guard …`. */
  by: string;
  reason?: string | undefined;
  /** The arguments as typed, shown by `audit`; absent: none. */
  args?: Record<string, unknown>;
}

/** `pause`: no cycle fires (`cycles`), or cycles fire with triggerExecution false (`execution`). */
export interface PauseAction extends ActionBase {
  kind: 'pause';
  symbol: string;
  scope: PauseScope;
  reason: string;
  /** When it begins; absent: when it is applied (a planned window starts later). */
  from?: number | undefined;
  /** When it ends by itself; null: until `resume`. */
  until: number | null;
  /** `--abort`: the cycles in flight are cut. */
  abort: boolean;
}

/** `resume`: lifts the pauses of `scope` of `symbol`, or with ALL_SYMBOLS every pause of that scope. */
export interface ResumeAction extends ActionBase {
  kind: 'resume';
  symbol: string;
  scope: PauseScope;
  /** `resume --planned`: the windows planned ahead (`pause --from`) are cancelled too; absent: only what is in force. */
  planned?: boolean | undefined;
}

/** A guard rail turns execution off for `symbol` (docs/guards.md), once: a guard holds at most one row per symbol. */
export interface GuardAction extends ActionBase {
  kind: 'guard';
  guard: string;
  symbol: string;
  reason: string;
}

/** A guard lifts what it turned off itself (the exchange guard: the exchange is back). */
export interface GuardLiftedAction extends ActionBase {
  kind: 'guard_lifted';
  guard: string;
}

/** An agent audits the start of a window planned ahead (`pause --from`), once. */
export interface PauseBeganAction extends ActionBase {
  kind: 'pause_began';
  pause: Pause;
}

/** An agent removes a timed pause whose end has come (every replica may try; one does it). */
export interface PauseEndedAction extends ActionBase {
  kind: 'pause_ended';
  pause: Pause;
}

/** `trigger`: a run-now request, pending for `expiresAfterMs`; refused when no agent alive can take it. */
export interface TriggerAction extends ActionBase {
  kind: 'trigger';
  symbol: string;
  expiresAfterMs: number;
  /** How recent a heartbeat must be for an agent to count as alive. */
  maxAgentAgeMs: number;
}

/** A run-now request no agent took by its expiry: marked expired, once. */
export interface TriggerExpiredAction extends ActionBase {
  kind: 'trigger_expired';
  request: Pick<TriggerRequest, 'id' | 'symbol' | 'expiresAt'>;
}

/** `reschedule`: the pattern over CRON_PATTERN; null: back to the environment's. */
export interface RescheduleAction extends ActionBase {
  kind: 'reschedule';
  pattern: string | null;
  /** The jobs it moves (targetOf); absent or ALL_SYMBOLS: every job, and the patterns set for some jobs end too. */
  target?: string | undefined;
}

/** Every control change. */
export type ControlAction =
  | PauseAction
  | ResumeAction
  | PauseEndedAction
  | TriggerAction
  | TriggerExpiredAction
  | RescheduleAction
  | GuardAction
  | GuardLiftedAction
  | PauseBeganAction;
export type ActionKind = ControlAction['kind'];

/** What an applied action gives back, by kind (besides its audit id, version and commit time). */
export interface ActionResults {
  pause: { pause: Pause };
  resume: { lifted: Pause[] };
  pause_ended: Record<string, never>;
  trigger: { id: number; expiresAt: number };
  trigger_expired: Record<string, never>;
  reschedule: Record<string, never>;
  guard: Record<string, never>;
  guard_lifted: { lifted: Pause[] };
  pause_began: Record<string, never>;
}

/**
 * The outcome of applying an action:
 * - `applied`: written with its audit row; `at` is the commit's time (taken once the version row is locked);
 * - `unchanged`: nothing to do (nothing to resume, no pattern to reset, a timed pause another agent ended already);
 *   nothing written;
 * - `refused`: the action cannot be carried out as things are (`why`, one line); nothing written.
 */
export type Applied<K extends ActionKind = ActionKind> =
  | ({ outcome: 'applied'; auditId: number; version: number; at: number } & ActionResults[K])
  | { outcome: 'unchanged'; why: string }
  | { outcome: 'refused'; why: string };

/** The audit row's `scope` of an action: a pause's scope, `run` for run-now requests, `pattern` for reschedules. */
export function auditScope(a: ControlAction): string {
  switch (a.kind) {
    case 'pause':
    case 'resume':
      return a.scope;
    case 'pause_ended':
    case 'pause_began':
      return a.pause.scope;
    case 'guard':
    case 'guard_lifted':
      return 'execution';
    case 'trigger':
    case 'trigger_expired':
      return 'run';
    case 'reschedule':
      return 'pattern';
  }
}

/** The audit row's `symbol` of an action. */
export function auditSymbol(a: ControlAction): string {
  switch (a.kind) {
    case 'pause':
    case 'resume':
    case 'trigger':
    case 'guard':
      return a.symbol;
    case 'pause_ended':
    case 'pause_began':
      return a.pause.symbol;
    case 'guard_lifted':
      return ALL_SYMBOLS;
    case 'trigger_expired':
      return a.request.symbol;
    case 'reschedule':
      return a.target ?? ALL_SYMBOLS;
  }
}
