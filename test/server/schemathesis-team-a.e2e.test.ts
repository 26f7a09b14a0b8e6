/** Schemathesis against a real `gantry up` as user-a (test/helpers/schemathesis.ts). */
import { schemathesisSuite } from '../helpers/schemathesis.js';

schemathesisSuite('user-a');
