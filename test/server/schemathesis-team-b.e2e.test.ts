/** Schemathesis against a real `gantry up` as user-b (test/helpers/schemathesis.ts). */
import { schemathesisSuite } from '../helpers/schemathesis.js';

schemathesisSuite('user-b');
