import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTableMarkdown } from '../../platform/config';

test('docs/configuration.md documents exactly the variables the config module reads', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
  expect(doc).toContain(configTableMarkdown());
});
