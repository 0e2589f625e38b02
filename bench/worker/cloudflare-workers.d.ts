// The one value this package takes from workerd's built-in module; `@cloudflare/workers-types` declares the module
// only in its global (ambient) typings, which clash with Node's, so it is declared here.
declare module "cloudflare:workers" {
  export const env: Readonly<Record<string, unknown>>
}
