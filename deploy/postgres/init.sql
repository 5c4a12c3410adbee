-- Databases beside the feedback store (POSTGRES_DB): Optuna's storage and Label Studio's.
CREATE DATABASE optuna OWNER classifine;
CREATE DATABASE labelstudio OWNER classifine;
