/**
 * A typed client of the Resee API: openapi-fetch over the generated `paths`, with the session's bearer
 * token added to every request and one refresh-and-retry when the access token stops working.
 *
 *   const resee = createReseeClient({ baseUrl: "http://127.0.0.1:8000" });
 *   const { data, error } = await resee.client.POST("/api/v1/auth/token/", { body: { email, password } });
 *   if (data) resee.session.set(data);
 *   const me = await resee.client.GET("/api/v1/accounts/users/me/");   // me.data is typed
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { paths } from "./schema";

export type { components, operations, paths } from "./schema";

type RefreshOperation = paths["/api/v1/auth/token/refresh/"]["post"];
/** The access and refresh tokens of a session, as the token and refresh endpoints answer them. */
export type TokenPair = RefreshOperation["responses"][200]["content"]["application/json"];
/** The body of every error answer: `{detail, code}`. */
export type ApiError = RefreshOperation["responses"][401]["content"]["application/json"];

/**
 * The 401 code after which a refresh may help: the access token is expired or no longer accepted
 * (`token_invalid`). `not_authenticated` (no credentials were sent) and `invalid_credentials` (a
 * wrong password at login) never trigger a refresh.
 */
export const REFRESHABLE_CODES: ReadonlySet<ApiError["code"]> = new Set<ApiError["code"]>(["token_invalid"]);

/**
 * Answers of the auth routes (/api/v1/auth/) are never retried: there a 401 means wrong credentials or a dead
 * refresh token, and refreshing on it would loop.
 */
const AUTH_ROUTES = /\/auth\//;

export class Session {
  #tokens: TokenPair | null = null;

  get access(): string | null {
    return this.#tokens?.access ?? null;
  }

  get refresh(): string | null {
    return this.#tokens?.refresh ?? null;
  }

  set(tokens: TokenPair): void {
    this.#tokens = { access: tokens.access, refresh: tokens.refresh };
  }

  clear(): void {
    this.#tokens = null;
  }
}

export interface ReseeClientOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8000` (paths already start with `/api/v1/`). */
  baseUrl: string;
  /** A fetch to send every request with (tests wrap the global one to observe the answers). */
  fetch?: typeof globalThis.fetch;
  /** Called once when a refresh is refused: the user has to sign in again. */
  onSessionEnded?: () => void;
}

export interface ReseeClient {
  client: Client<paths>;
  session: Session;
  /** Exchanges the session's refresh token for a new pair (rotation); false when the server refuses. */
  refresh: () => Promise<boolean>;
}

export function createReseeClient(options: ReseeClientOptions): ReseeClient {
  const send = options.fetch ?? globalThis.fetch;
  const session = new Session();
  const client = createClient<paths>({ baseUrl: options.baseUrl, fetch: send });
  const bare = createClient<paths>({ baseUrl: options.baseUrl, fetch: send });
  let refreshing: Promise<boolean> | null = null;

  async function refreshOnce(): Promise<boolean> {
    const refreshToken = session.refresh;
    if (refreshToken === null) return false;
    const { data } = await bare.POST("/api/v1/auth/token/refresh/", { body: { refresh: refreshToken } });
    if (data === undefined) {
      session.clear();
      options.onSessionEnded?.();
      return false;
    }
    session.set(data);
    return true;
  }

  /** Concurrent 401s share one refresh: refresh tokens rotate, a second use would be refused. */
  function refresh(): Promise<boolean> {
    refreshing ??= refreshOnce().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  const retryable = new Map<string, Request>();
  const auth: Middleware = {
    onRequest({ request, id }) {
      if (session.access !== null && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${session.access}`);
      }
      if (!AUTH_ROUTES.test(new URL(request.url).pathname)) retryable.set(id, request.clone());
      return request;
    },
    async onResponse({ response, id }) {
      const original = retryable.get(id);
      retryable.delete(id);
      if (original === undefined || response.status !== 401) return response;
      const body = (await response
        .clone()
        .json()
        .catch(() => null)) as Partial<ApiError> | null;
      if (typeof body?.code !== "string" || !REFRESHABLE_CODES.has(body.code)) return response;
      const sentWith = original.headers.get("Authorization");
      // Another request may have refreshed while this one was in flight: retry with its token.
      if (sentWith === `Bearer ${session.access}` && !(await refresh())) return response;
      const access = session.access;
      if (access === null) return response;
      original.headers.set("Authorization", `Bearer ${access}`);
      return send(original);
    },
    onError({ id }) {
      retryable.delete(id);
    },
  };
  client.use(auth);
  return { client, session, refresh };
}
