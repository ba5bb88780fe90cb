export { startActivationServer, type ActivationServerOptions, type ActivationServer } from './server';
export { defaultActivationLimits, type ActivationLimits } from './limits';
