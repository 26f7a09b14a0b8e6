/** An action is one step of a cycle; actions run least disruptive first. */
import type { Session } from '../session.js';
import type { ActionName } from '../config.js';

export interface Action {
  readonly name: ActionName;
  execute(s: Session): void;
}
