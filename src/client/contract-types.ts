/**
 * The API's operations as types, for every client of the contract (the CLI in src/cli, the
 * dashboard in web/): what an operation answers and takes, from the zod schemas the server
 * validates with and the OpenAPI document is generated from. Types only: nothing here runs.
 */
import type { z } from 'zod';
import type { OPERATIONS, OperationId } from '../server/contract/operations.js';

export type { OperationId };
/** What an operation answers, typed by the contract's zod schema (text for the non-JSON ones). */
export type AnswerOf<K extends OperationId> = (typeof OPERATIONS)[K]['ok']['schema'] extends z.ZodType ? z.output<(typeof OPERATIONS)[K]['ok']['schema']> : string;
/** What an operation takes as its body. */
export type BodyOf<K extends OperationId> = (typeof OPERATIONS)[K] extends { body: { schema: infer B } } ? (B extends z.ZodType ? z.input<B> : never) : never;
/** What an operation takes as its query. */
export type QueryOf<K extends OperationId> = (typeof OPERATIONS)[K] extends { query: infer Q } ? (Q extends z.ZodType ? Partial<z.input<Q>> : never) : Record<string, never>;
/** The JSON operations (those a client parses as JSON). */
export type JsonOperationId = { [K in OperationId]: (typeof OPERATIONS)[K]['ok']['schema'] extends z.ZodType ? K : never }[OperationId];
