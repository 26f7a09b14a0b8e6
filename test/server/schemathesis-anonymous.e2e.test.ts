/** Schemathesis against a real `gantry up` as anonymous (test/helpers/schemathesis.ts). */
import { schemathesisSuite } from '../helpers/schemathesis.js';

schemathesisSuite('anonymous');
