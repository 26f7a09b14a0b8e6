/** The default filter chain, cheapest and most selective first. */
import type { FilterPlugin } from '../../framework/plugin.js';
import { nodeUnschedulable } from './node-unschedulable.js';
import { nodeResources } from './node-resources.js';
import { gpuFitPlugin } from './gpu-fit.js';
import { nodeSelector } from './node-selector.js';
import { taintToleration } from './taint-toleration.js';

export const DEFAULT_FILTERS: readonly FilterPlugin[] = [nodeUnschedulable, gpuFitPlugin, nodeResources, nodeSelector, taintToleration];
