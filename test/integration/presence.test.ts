import t from 'tap';
import { presenceSuite } from './presence-suite.js';

t.test('presence with the embedded broker', (t) => presenceSuite(t, 'embedded'));
