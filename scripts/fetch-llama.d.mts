export function fetchLlama(options?: { log?: (message: string) => void }): string;
