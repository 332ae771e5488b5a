// Checks of a JSON body's field values. Each failure is a 400 naming the field, what it must be and what
// came, so a client can fix its request from the message alone.
import { badRequest } from "./http-error.js";

const shown = (value: unknown) => (value === undefined ? "nothing" : JSON.stringify(value)?.slice(0, 80));

export function oneOf<T extends string>(name: string, value: unknown, values: readonly T[]): T {
  if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
    throw badRequest(`${name} must be one of ${values.join(", ")}, got ${shown(value)}`);
  }
  return value as T;
}

export function integerIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`${name} must be an integer from ${min} to ${max}, got ${shown(value)}`);
  }
  return value;
}

export function numberIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw badRequest(`${name} must be a number from ${min} to ${max}, got ${shown(value)}`);
  }
  return value;
}

export function boolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw badRequest(`${name} must be true or false, got ${shown(value)}`);
  return value;
}

export function string(name: string, value: unknown): string {
  if (typeof value !== "string") throw badRequest(`${name} must be a string, got ${shown(value)}`);
  return value;
}

export function object(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest(`${name} must be an object, got ${shown(value)}`);
  return value as Record<string, unknown>;
}
