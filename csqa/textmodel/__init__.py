"""Linear text models as plain data: features (jieba words, character n-grams), TF-IDF blocks and linear
heads scored with numpy (`linear`), and their files — arrays in .npz, vocabularies and settings in JSON, a card
with the sha256 of both, nothing pickled (`files`). The complaint classifier (csqa.complaints) and the conduct
model of the checks (csqa.checks.conduct_model) are two such models; scikit-learn is needed only to train them."""
