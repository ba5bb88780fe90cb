import type { Registry } from 'prom-client';

/**
 * Metric families are registered once per registry (registering a name twice throws);
 * this turns a factory into a function that returns the same families for the same
 * registry, so services, tests and embedded runs can share or separate registries freely.
 */
export function perRegistry<T>(create: (registry: Registry) => T): (registry: Registry) => T {
  const made = new WeakMap<Registry, T>();
  return (registry) => {
    let m = made.get(registry);
    if (m === undefined) {
      m = create(registry);
      made.set(registry, m);
    }
    return m;
  };
}
