/**
 * The public credit data sets `fetchPublicDataset` knows: where each file is served, its expected
 * SHA-256, its licence and citation, and the converter to the FATE vertical layout.
 */
import { type ConvertedDataset, convertDefaultCredit, convertGerman } from './convert.ts';

export interface PublicDatasetSource {
  readonly name: string;
  readonly description: string;
  /** Default download address (a real public copy of the file); `--url` overrides it. */
  readonly url: string;
  /** Name the original file is saved under. */
  readonly fileName: string;
  /** SHA-256 of the original file, lower-case hex. */
  readonly sha256: string;
  readonly bytes: number;
  readonly rows: number;
  readonly licence: string;
  readonly citation: string;
  /** Where the guest/host split comes from. */
  readonly split: string;
  readonly convert: (text: string, file: string) => ConvertedDataset;
}

export const PUBLIC_DATASETS: readonly PublicDatasetSource[] = [
  {
    name: 'default_credit',
    description:
      'Default of credit card clients (Taiwan, 2005): 30,000 card holders, 23 features, label = default next month.',
    // The CSV form (header "ID","LIMIT_BAL",...) that FATE ships in examples/data and that other
    // public copies mirror; the UCI archive itself serves only the original .xls.
    url: 'https://raw.githubusercontent.com/FederatedAI/FATE/master/examples/data/UCI_Credit_Card.csv',
    fileName: 'UCI_Credit_Card.csv',
    sha256: 'a0f0ab49d6326671d6cd83be5c88dcf18007025fe9a53ecd699119c871176ca1',
    bytes: 2_862_995,
    rows: 30_000,
    licence: 'CC BY 4.0 (UCI Machine Learning Repository)',
    citation:
      'Yeh, I.-C. & Lien, C.-H. (2009). The comparisons of data mining techniques for the predictive accuracy of probability of default of credit card clients. Expert Systems with Applications 36(2), 2473-2480. Data: https://doi.org/10.24432/C55S3H',
    split:
      "FATE examples/data default_credit_hetero_{guest,host}: guest PAY_6, BILL_AMT1-6, PAY_AMT1-6; host LIMIT_BAL, SEX, EDUCATION, MARRIAGE, AGE, PAY_0, PAY_2-5 (values left raw, FATE's files are z-scored)",
    convert: convertDefaultCredit,
  },
  {
    name: 'german',
    description:
      'Statlog German credit (Hofmann): 1,000 loan applicants, 20 attributes (13 categorical), label 1 good / 2 bad.',
    url: 'https://archive.ics.uci.edu/ml/machine-learning-databases/statlog/german/german.data',
    fileName: 'german.data',
    sha256: 'b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871',
    bytes: 79_793,
    rows: 1_000,
    licence: 'CC BY 4.0 (UCI Machine Learning Repository)',
    citation:
      'Hofmann, H. (1994). Statlog (German Credit Data). UCI Machine Learning Repository. https://doi.org/10.24432/C5NC77',
    split:
      'fedscore split: loan/account attributes to the bank (guest), personal/employment/housing attributes to the host; categoricals one-hot; y = 1 for bad risk',
    convert: convertGerman,
  },
];

export function publicDatasetNames(): string[] {
  return PUBLIC_DATASETS.map((d) => d.name);
}
