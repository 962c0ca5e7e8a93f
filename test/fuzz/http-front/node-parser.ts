// node:http's own request parser (llhttp, with the limits and leniency node:http's server gives
// it), fed bytes in pieces, telling where each message ends. It is the llhttp build of the Node
// that runs this, not a copy: from process.binding('http_parser') (deprecated for applications,
// gone in Node 22), or else from the internal binding that node --expose-internals lends tests.
import { createRequire } from 'node:module';

interface Binding {
  HTTPParser: {
    new (): RawParser;
    REQUEST: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
  };
  methods: string[];
}

interface RawParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(bytes: Buffer): number | (Error & { code?: string; reason?: string; bytesParsed?: number });
  close(): void;
  [callback: number]: unknown;
}

function load(): Binding {
  const quiet = process.noDeprecation;
  process.noDeprecation = true; // DEP0111, once per process: noise in a fuzz report
  try {
    return (process as unknown as { binding(name: string): Binding }).binding('http_parser');
  } catch {
    try {
      const internals = createRequire(import.meta.url)('internal/test/binding') as {
        internalBinding(name: string): Binding;
      };
      return internals.internalBinding('http_parser');
    } catch (error) {
      throw new Error(`node:http's parser is out of reach on Node ${process.version}: run node --expose-internals`, {
        cause: error,
      });
    }
  } finally {
    process.noDeprecation = quiet;
  }
}

const { HTTPParser, methods } = load();

// node:http's MAX_HEADER_PAIRS (in entries, names and values): a server without
// maxHeadersCount puts only the first 1000 fields into req.headers.
const maxHeaderPairs = 2000;

/** What node:http's parser saw of one request head. */
export interface NodeHead {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Field names and values, in order, as IncomingMessage's rawHeaders. */
  rawHeaders: string[];
  /** The part of rawHeaders that IncomingMessage reads into req.headers. */
  headerLines: string[];
  upgrade: boolean;
  shouldKeepAlive: boolean;
}

/** The outcome of one execute(): how many bytes it took, the error if any, what completed. */
export interface Step {
  parsed: number;
  error?: string;
  heads: NodeHead[];
  messagesComplete: number;
}

/** One connection's parser, as node:http's server sets it up (strict: no lenient flags). */
export class NodeParser {
  private readonly parser = new HTTPParser();
  private heads: NodeHead[] = [];
  private messagesComplete = 0;
  // Heads longer than 32 fields, or split across reads, arrive in pieces (kOnHeaders).
  private pendingHeaders: string[] = [];
  private pendingUrl = '';

  constructor(maxHeaderSize: number) {
    this.parser.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, 0);
    this.parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.pendingHeaders.push(...headers);
      this.pendingUrl += url;
    };
    this.parser[HTTPParser.kOnHeadersComplete] = (
      versionMajor: number,
      versionMinor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _statusCode: unknown,
      _statusMessage: unknown,
      upgrade: boolean,
      shouldKeepAlive: boolean,
    ) => {
      const rawHeaders = headers ?? this.pendingHeaders;
      this.heads.push({
        method: methods[method] ?? `#${method}`,
        url: url || this.pendingUrl,
        versionMajor,
        versionMinor,
        rawHeaders,
        headerLines: rawHeaders.slice(0, maxHeaderPairs),
        upgrade,
        shouldKeepAlive,
      });
      this.pendingHeaders = [];
      this.pendingUrl = '';
      return 0;
    };
    this.parser[HTTPParser.kOnBody] = () => {};
    this.parser[HTTPParser.kOnMessageComplete] = () => {
      this.messagesComplete++;
    };
  }

  execute(bytes: Buffer): Step {
    this.heads = [];
    this.messagesComplete = 0;
    const result = this.parser.execute(bytes);
    const step: Step = { parsed: bytes.length, heads: this.heads, messagesComplete: this.messagesComplete };
    if (typeof result === 'number') {
      step.parsed = result;
    } else {
      step.parsed = result.bytesParsed ?? 0;
      step.error = `${result.code ?? 'error'} (${result.reason ?? result.message})`;
    }
    return step;
  }

  close(): void {
    this.parser.close();
  }
}
