/** Schemathesis against a real `gantry up` as admin (test/helpers/schemathesis.ts). */
import { schemathesisSuite } from '../helpers/schemathesis.js';

schemathesisSuite('admin');
