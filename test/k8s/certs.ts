// Certificates and keys of the test control plane, made with the openssl command (no npm dependency): a CA, the
// API server's serving certificate for 127.0.0.1 and localhost, its front-proxy client certificate, and the
// service-account signing key pair.
// ECDSA P-256 keys: generated in milliseconds, accepted by every component and by Node's TLS.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ControlPlaneCerts {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** Signs service-account tokens (kube-apiserver and kube-controller-manager). */
  saKey: string;
  /** Verifies them. */
  saPub: string;
  /** The API server's client certificate towards aggregated API servers (front proxy). */
  proxyClientCert: string;
  proxyClientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr || err.message} (is openssl installed? make test-deps installs it)`);
  }
}

/** Writes the files into `dir` and returns their paths. Valid for two days: a test control plane is short-lived. */
export async function makeCerts(dir: string): Promise<ControlPlaneCerts> {
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
    '-subj', '/CN=conflux-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  await openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  // Clients reach the API server as 127.0.0.1 or localhost only; nothing in these tests uses a Service ClusterIP.
  writeFileSync(p('apiserver.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  await openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'apiserver.crt', '-days', '2', '-extfile', 'apiserver.ext'], dir);
  // The front-proxy client certificate: without a request-header CA, the controller-manager and the scheduler
  // log an error every few seconds (their delegated authentication looks for one).
  await openssl(['req', ...ec, '-keyout', 'front-proxy-client.key', '-out', 'front-proxy-client.csr', '-subj', '/CN=front-proxy-client'], dir);
  writeFileSync(p('front-proxy-client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  await openssl(['x509', '-req', '-in', 'front-proxy-client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'front-proxy-client.crt', '-days', '2', '-extfile', 'front-proxy-client.ext'], dir);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
  await openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    proxyClientCert: p('front-proxy-client.crt'),
    proxyClientKey: p('front-proxy-client.key'),
  };
}
