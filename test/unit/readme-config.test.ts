import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTableMarkdown } from '../../platform/config';

test('the README documents exactly the variables the config module reads', () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  expect(readme).toContain(configTableMarkdown());
});
