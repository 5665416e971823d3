/**
 * Third-party modules used only by tests and benchmarks, with full `npm:` specifiers.
 *
 * - `fast-check`: model-based property tests.
 * - `classic-level`: LevelDB itself, the peer the storage benchmark runs beside.
 *
 * @module
 */
export { default as fc } from "npm:fast-check@4.10.2";
export { ClassicLevel } from "npm:classic-level@3.0.0";
