/**
 * A deadline on an apiserver call that may hang (a paused or partitioned apiserver answers
 * nothing): the caller gets `message` as an error after `ms`, and the call is left to settle
 * on its own.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
