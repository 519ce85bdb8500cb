/** How bad a failing check is: an error stops studios from working, a warning may, info only informs. */
export type CheckLevel = 'error' | 'warning' | 'info';

/** `skip`: the check could not be made because an earlier one failed (or it does not apply); the message says why. */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** One line of the doctor's checklist. */
export interface DoctorCheck {
  /** Stable, e.g. `container-repository`, `compute-env:gpu-box`. */
  id: string;
  title: string;
  level: CheckLevel;
  status: CheckStatus;
  message: string;
  /** The exact thing to do: a command, a policy statement to add, a configuration line. */
  fix?: string;
}

/**
 * Makes the results of one check. A problem is `fail` at the error level and `warn` below it, so
 * that only error-level problems make `berth doctor` exit non-zero.
 */
export function checkOf(id: string, title: string, level: CheckLevel) {
  const result = (status: CheckStatus, message: string, fix?: string): DoctorCheck => ({ id, title, level, status, message, ...(fix === undefined ? {} : { fix }) });
  return {
    pass: (message: string) => result('pass', message),
    problem: (message: string, fix: string) => result(level === 'error' ? 'fail' : 'warn', message, fix),
    /** Not checked because `because` (name the check that failed, so the problem is reported once, there). */
    skip: (because: string) => result('skip', because),
  };
}

export interface DoctorSummary {
  passed: number;
  failed: number;
  warnings: number;
}

/** `ok` is false when any error-level check failed. */
export function summarise(checks: readonly DoctorCheck[]): { summary: DoctorSummary; ok: boolean } {
  const summary = {
    passed: checks.filter((check) => check.status === 'pass').length,
    failed: checks.filter((check) => check.status === 'fail').length,
    warnings: checks.filter((check) => check.status === 'warn').length,
  };
  return { summary, ok: !checks.some((check) => check.status === 'fail' && check.level === 'error') };
}

/** Quotes a value for a POSIX shell when it needs quoting, so that fixes can be pasted as they are. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
