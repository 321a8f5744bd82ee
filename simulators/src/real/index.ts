export {
  createRealVirtualDevice,
  type RealDeviceOptions,
  type RealInferenceOptions,
  type RealVirtualDevice,
} from './real-device.js';
