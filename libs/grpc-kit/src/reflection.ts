import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Server } from '@grpc/grpc-js';
import { protoPath, protoRoot } from '@tuned-lens/proto';

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing `protoFiles`, so grpcurl and
 * other tools can list and call the services without the .proto files. Reflection needs a
 * proto-loader package definition; it is loaded from the same sources ts-proto compiled.
 * The health service is described too.
 */
export function addReflection(server: Server, protoFiles: string[], extraProtoPaths: string[] = []): void {
  const packageDefinition = loadSync([...protoFiles.map(protoPath), ...extraProtoPaths], {
    includeDirs: [protoRoot],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(packageDefinition).addToServer(server);
}
