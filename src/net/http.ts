// node:http for the rest of src, without the memory an ESM import of it costs.
/**
 * `import { … } from 'node:http'` builds the module namespace from every export, and reading node:http's
 * lazy WebSocket, CloseEvent and MessageEvent exports loads Node's bundled undici, which nothing here uses:
 * 6 MB more RSS when the controller is loaded (14 MB in a bare process). process.getBuiltinModule hands
 * over the module object without reading them.
 */
export const http: typeof import('node:http') = process.getBuiltinModule('node:http');
