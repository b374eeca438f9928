import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactUrl, redactUserInfo } from '../src/redact.js';

describe('redactUrl', () => {
  it('hides user info and secret query values, keeping host, path and other parameters', () => {
    expect(redactUrl('https://alice:hunter2@mlflow.example.com:5000/')).toBe('https://***@mlflow.example.com:5000/');
    expect(redactUrl('http://token@127.0.0.1:8080/v1')).toBe('http://***@127.0.0.1:8080/v1');
    expect(redactUrl('https://gw.example.com/v1?api_key=abc&region=eu&X-Amz-Signature=zz')).toBe('https://gw.example.com/v1?api_key=***&region=eu&X-Amz-Signature=***');
    expect(redactUrl('nats://u:p@10.0.0.1:4222,nats://u:p@10.0.0.2:4222')).toBe('nats://***@10.0.0.1:4222,nats://***@10.0.0.2:4222');
  });

  it('leaves a URL without secrets exactly as written', () => {
    for (const u of ['http://127.0.0.1:5000', 'https://api.openai.com/v1/', 'file:///tmp/mlruns', 'nats://127.0.0.1:4222', 'not a url']) expect(redactUrl(u)).toBe(u);
  });

  it('redacts user info in text that is not one URL', () => {
    expect(redactUserInfo('cannot reach https://bob:pw@host/x and nats://a:b@h:1')).toBe('cannot reach https://***@host/x and nats://***@h:1');
    expect(redactUrl('ht tp://x:secret@host')).not.toContain('secret');
  });

  it('never lets a password or a secret parameter through (property)', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9]{4,16}$/);
    fc.assert(
      fc.property(word, word.map((w) => `Zq${w}`), fc.constantFrom('http', 'https', 'nats'), fc.constantFrom('token', 'api_key', 'password', 'sig'), (user, secret, scheme, param) => {
        const printed = redactUrl(`${scheme}://${user}:${secret}@host.example:1234/p?${param}=${secret}&keep=1`);
        expect(printed).not.toContain(secret);
        expect(printed).toContain(`${scheme}://${REDACTED}@host.example:1234`);
        expect(printed).toContain('keep=1');
      }),
    );
  });
});
