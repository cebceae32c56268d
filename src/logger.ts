// The process logger (pino), with credential-bearing fields redacted.
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

/**
 * Structured JSON logs. Credential-bearing fields are redacted at the top level and two levels down,
 * a safety net only: nothing should log credentials in the first place.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: 'service-lb-controller',
      level,
      redact: {
        paths: SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
        censor: '[redacted]',
      },
    },
    destination,
  );
}
