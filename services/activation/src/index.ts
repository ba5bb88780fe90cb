export { startActivationServer, type ActivationServerOptions, type ActivationServer } from './server';
export { defaultActivationLimits, type ActivationLimits } from './limits';
export { MEMORY_LIMIT_ENV, parseByteSize, memoryAllowance, type MemoryAllowance } from './memory/allowance';
export { checkLoadMemory, InsufficientMemoryError } from './memory/loadCheck';
