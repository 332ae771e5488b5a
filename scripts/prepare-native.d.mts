export interface Compiler {
  cc: string | null;
  cxx: string | null;
  clang: boolean;
}
export function cmakeOptions(compiler: Compiler, options?: { arch?: string; platform?: string; quiet?: boolean }): Record<string, string>;
export function withUserOptions(options: Record<string, string>, userArgs?: string): Record<string, string>;
