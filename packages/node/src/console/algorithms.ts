/**
 * The Algorithms page: each protocol a job can run, its paper, its parameters (the job spec's fields and
 * defaults) and who learns what -- condensed from docs/protocols/*.md, which state it at length and are
 * checked by the message-capture tests.
 */
export interface AlgorithmCard {
  readonly name: string;
  readonly stage: string;
  readonly doc: string;
  readonly source: string;
  readonly parameters: readonly (readonly [string, string])[];
  /** [party, learns, never learns] */
  readonly learns: readonly (readonly [string, string, string])[];
}

export const ALGORITHMS: readonly AlgorithmCard[] = [
  {
    name: 'PSI (ECDH over ristretto255)',
    stage: 'psi',
    doc: 'docs/protocols/psi.md',
    source:
      'Huberman, Franklin, Hogg (ACM EC 1999); Ion et al., Private Intersection-Sum-with-Cardinality (EuroS&P 2020)',
    parameters: [
      ['governance.requireConsent (host)', 'true: only consenting enterprises enter PSI'],
      ['governance.psi.maxSubmittedIds (host)', '5,000,000'],
      ['governance.psi.maxSubmittedRatio (host)', '50'],
      [
        'testFraction',
        '0.3 (stratified hold-out of the aligned rows; 0 = none, hetero-LR: evaluation in-sample)',
      ],
    ],
    learns: [
      [
        'guest (bank)',
        'the host set size; which of its own ids are in the intersection',
        'any other host id',
      ],
      [
        'host (government)',
        'the guest set size; the intersection size (and in both mode which of its ids matched)',
        'any other guest id',
      ],
    ],
  },
  {
    name: 'WOE binning and IV under HE',
    stage: 'binning',
    doc: 'docs/protocols/woe-binning.md',
    source: 'Siddiqi, Credit Risk Scorecards (2006); FATE hetero feature binning',
    parameters: [
      ['binning.method', 'quantile | equal-width (default quantile)'],
      ['binning.bins', '10 (2-64)'],
      ['binning.minIv', '0.02'],
      ['binning.scheme', 'ckks | paillier'],
    ],
    learns: [
      [
        'guest',
        'per host feature: name, bin count, rows per bin, bad count per bin, hence WOE and IV',
        'host bin edges, which row is in which host bin, any host feature value',
      ],
      [
        'host',
        'the IV of each of its features (and WOE only if the guest releases it)',
        'any label or bad count',
      ],
    ],
  },
  {
    name: 'Hetero logistic regression',
    stage: 'train',
    doc: 'docs/protocols/hetero-lr.md',
    source:
      'Hardy et al., Private federated learning on vertically partitioned data (2017); FATE coordinated LR',
    parameters: [
      ['train.scheme', 'ckks | paillier'],
      ['train.maxEpochs', '5'],
      ['train.learningRate, train.l2, train.batchSize', 'optional'],
      ['arbiter', 'absent: two-party mode'],
    ],
    learns: [
      [
        'guest',
        'its own gradients; joint validation scores',
        'host features, weights, partial scores on training rows',
      ],
      [
        'host',
        'its own gradients; the plan; whether each validation improved',
        'labels, residuals, guest weights',
      ],
      ['arbiter', 'masked gradients and validation sums', 'features, labels, weights, residuals'],
    ],
  },
  {
    name: 'SecureBoost (vertical gradient-boosted trees)',
    stage: 'train (kind secureboost)',
    doc: 'docs/protocols/secureboost.md',
    source:
      'Cheng et al., SecureBoost: A Lossless Federated Learning Framework (arXiv:1901.08755); CKKS histograms',
    parameters: [
      ['secureboost.trees, depth, bins, learningRate', '30, 3, 32, 0.3'],
      ['train.scheme', 'ckks | paillier (the encryption of the gradients)'],
      ['secureboost.minNodeRows', 'nodes below the floor are never split'],
      ['secureboost.guestOnlyTrees', 'first trees grown by the guest alone'],
      ['secureboost.hostDepth', 'layered trees: hosts split the top levels only, the guest the rest alone'],
      ['secureboost.subsample, colsampleByTree, earlyStoppingRounds', 'optional'],
    ],
    learns: [
      [
        'guest',
        'per-bin gradient and hessian sums of nodes >= the floor, each cell >= the floor or empty (bins merged by the host; flooded); which rows go left and right at every split',
        "a host's thresholds, bin edges or feature values",
      ],
      [
        'host',
        'which rows reach each node; its own split records',
        'gradients, hessians, labels, gains, leaf weights',
      ],
    ],
  },
  {
    name: 'Private tree scoring',
    stage: 'scoring (tree models)',
    doc: 'docs/protocols/tree-scoring.md',
    source:
      'Each party resolves only its own splits (Cheng et al., arXiv:1901.08755, section 5), as in EINI (Chen et al. 2021)',
    parameters: [['model', 'a promoted SecureBoost model']],
    learns: [
      [
        'guest',
        'each applicant score plus flooding noise',
        "the host's split outcomes, thresholds and feature values",
      ],
      [
        'host',
        'row, tree and leaf-slot counts; the permuted leaf slots under each of its own splits',
        'the score, leaf weights, guest splits',
      ],
    ],
  },
  {
    name: 'Online scoring (band mode)',
    stage: 'scoring',
    doc: 'docs/protocols/online-scoring.md',
    source:
      'CKKS (Cheon, Kim, Kim, Song, ASIACRYPT 2017) with noise flooding (Li, Micciancio, EUROCRYPT 2021)',
    parameters: [
      ['scoring.allowExactMode (government)', 'false'],
      ['scoring.maxThresholds', '4'],
      ['scoring.quota', '4 requests per enterprise per 30 days'],
      ['scoring.rate', '1 request per hour'],
    ],
    learns: [
      [
        'government',
        'which applicant is scored, the mode, K',
        "the bank's partial score, the thresholds, the band",
      ],
      ['bank', 'the band; masked differences rho_k (s - t_k)', "the government's partial score and features"],
    ],
  },
  {
    name: 'Batch scoring',
    stage: 'scoring',
    doc: 'docs/protocols/batch-scoring.md',
    source: 'CKKS with masking and noise flooding',
    parameters: [['result_to', 'data owner | model owner']],
    learns: [
      [
        'model owner',
        'record count, column names (and the scores when result_to = model owner)',
        'any feature value',
      ],
      ['data owner', 'the scores (when result_to = data owner)', 'the weights as such'],
    ],
  },
  {
    name: 'Horizontal FL with secure aggregation',
    stage: 'train (horizontal)',
    doc: 'docs/protocols/secure-aggregation.md',
    source: 'Bonawitz et al., Practical Secure Aggregation for Privacy-Preserving ML (CCS 2017)',
    parameters: [['threshold t', 'shares needed to recover a dropped client']],
    learns: [
      ['server', 'the sum over surviving clients; who took part and who dropped', 'any single client update'],
      ['client', 'neighbours public keys; one share of each neighbour secret', 'any other client input'],
    ],
  },
  {
    name: 'Feature catalogue (published profiles)',
    stage: 'catalogue',
    doc: 'docs/protocols/feature-catalogue.md',
    source: 'aggregate release with a row floor and rounding (Denning et al., ACM TODS 1979, on trackers)',
    parameters: [
      ['release floor', '50 rows per dataset (privacy_floor below)'],
      ['rate step', '>= 1/rows: 1 % from 100 rows, 2 % from 50'],
      ['catalogue.publishOnStart', 'on for a bank naming its platform peer (to that peer)'],
    ],
    learns: [
      [
        'receiver (platform node)',
        'feature names, descriptions, types; rows to 10; coverage and missing rate to one step',
        'any value, category, id, which enterprises have a value; IVs and jobs',
      ],
      ['publisher', "the same of the catalogue's other parties", 'the same as the receiver'],
    ],
  },
];
