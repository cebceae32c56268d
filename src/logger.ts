import { pino, type Logger } from 'pino';

/** Structured JSON logs. Credential-bearing fields are redacted wherever they appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: 'service-lb-controller',
      level,
      redact: {
        paths: ['*.credentials', '*.secretAccessKey', '*.accessKeyId', '*.sessionToken', '*.token', '*.password', '*.authorization', '*.Authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
