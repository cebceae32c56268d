// The process logger (pino), with credential-bearing fields redacted, as JSON lines or as text for people.
import { pino, type Logger } from 'pino';

const SECRET_FIELDS = [
  'credentials',
  'secretAccessKey',
  'accessKeyId',
  'sessionToken',
  'token',
  'password',
  'authorization',
  'Authorization',
];

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Fields every line has, which the text format shows in its own places (or, for pid and hostname, not at all). */
const FIXED_FIELDS = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

function textValue(value: unknown): string {
  // Bare words stay bare; anything with spaces, quotes or structure is JSON, so a line splits unambiguously.
  return typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

/** One JSON log line as "2025-01-02T03:04:05.678Z INFO  message key=value ...". */
export function formatTextLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const fields = Object.entries(record)
    .filter(([key]) => !FIXED_FIELDS.has(key))
    .map(([key, value]) => ` ${key}=${textValue(value)}`)
    .join('');
  const level = String(record.level ?? '').toUpperCase();
  return `${String(record.time ?? '')} ${level.padEnd(5)} ${String(record.msg ?? '')}${fields}\n`;
}

/** A pino destination that rewrites every JSON line as text (pino-pretty is not a dependency). */
export function textDestination(out: { write(chunk: string): unknown } = process.stdout): pino.DestinationStream {
  return { write: (line: string) => void out.write(formatTextLine(line)) };
}

/**
 * Level names and ISO timestamps, so lines read the same in `kubectl logs` and a log store. Credential-bearing
 * fields are redacted at the top level and two levels down, a safety net only: nothing should log credentials.
 */
export function createLogger(level: string, format: LogFormat = 'json', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: 'service-lb-controller',
      level,
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
        censor: '[redacted]',
      },
    },
    format === 'text' ? textDestination(destination) : destination,
  );
}
