/**
 * Every third-party module the product imports at run time, with its full `npm:` specifier.
 *
 * A module imported from a URL does not see the importer's import map, so the product keeps
 * full specifiers here and imports this file relatively. Test and benchmark dependencies live
 * in `dev_deps.ts` so that importing `mod.ts` never loads them.
 *
 * @module
 */
export {};
