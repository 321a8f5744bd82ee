import t from 'tap';
import { presenceSuite } from './presence-suite.js';

// The server as a plain client of a broker it does not own: a second aedes started here.
t.test('presence with an external broker', (t) => presenceSuite(t, 'external'));
