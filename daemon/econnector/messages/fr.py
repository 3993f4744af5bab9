"""The error catalog in French: message and hint for each code.

For the person at the front desk of a practice in Luxembourg (formal "vous";
"coffre-fort", "caisse" as on the receipts).
"""

from __future__ import annotations

from typing import Final

from ..codes import Code

# code -> (message, hint); str.format fields as in the English catalog (en.py).
TEXTS: Final[dict[Code, tuple[str, str]]] = {
    "bad-file-name": (
        "Le nom de fichier '{name}' ne peut pas être utilisé par econnector.",
        "Renommez le PDF et son fichier de données (même nom, terminé par .yaml, .yml ou "
        ".json) : uniquement des lettres sans accents, des chiffres, des points, des "
        "tirets et des tirets bas, en commençant par une lettre ou un chiffre, 120 "
        "caractères au plus (p. ex. 2026-000123.pdf). Déposez ensuite à nouveau les deux "
        "fichiers.",
    ),
    "sidecar-ambiguous": (
        "Plusieurs fichiers de données ont été déposés pour {stem}.pdf ({stem}.yaml, "
        "{stem}.yml ou {stem}.json) ; econnector ne peut pas savoir lequel est le bon.",
        "Déposez à nouveau le PDF avec un seul fichier de données.",
    ),
    "sidecar-orphaned": (
        "Le fichier de données de {stem}.pdf a attendu son PDF pendant {seconds} "
        "secondes, mais le PDF n'est jamais arrivé ; rien n'a été envoyé.",
        "Renvoyez le document depuis le logiciel du cabinet (le PDF et son fichier de "
        "données sous le même nom).",
    ),
    "sidecar-too-large": (
        "Le fichier de données du document est trop volumineux ({size} octets ; "
        "{limit} octets au plus).",
        "Le fichier de données ne doit que décrire le document ; prévenez l'éditeur du "
        "logiciel.",
    ),
    "sidecar-encoding": (
        "Le fichier de données du document n'est pas un texte lisible (il doit être "
        "enregistré en UTF-8).",
        "Renvoyez le document ; si cela se reproduit, prévenez l'éditeur du logiciel.",
    ),
    "sidecar-syntax": (
        "Le fichier de données du document est endommagé et ne peut pas être lu comme "
        "{format} : {detail}",
        "Renvoyez le document ; si cela se reproduit, prévenez l'éditeur du logiciel.",
    ),
    "sidecar-yaml-feature": (
        "Le fichier de données du document utilise une écriture qui n'est pas "
        "acceptée : {detail}",
        "Prévenez l'éditeur du logiciel : le fichier de données doit être du YAML "
        "simple, comme dans les exemples du contrat de dossiers.",
    ),
    "sidecar-not-mapping": (
        "Le fichier de données du document est vide ou ne contient pas les données "
        "du document.",
        "Renvoyez le document ; si cela se reproduit, prévenez l'éditeur du logiciel.",
    ),
    "sidecar-schema": (
        "Le fichier de données du document a une version de format inconnue ({value}).",
        "Prévenez l'éditeur du logiciel : le fichier de données doit indiquer "
        "schema: econnector.document/v1.",
    ),
    "field-missing": (
        "Les données du document sont incomplètes : '{field}' manque.",
        "Complétez '{field}' dans le logiciel du cabinet et renvoyez le document.",
    ),
    "field-unknown": (
        "Les données du document contiennent '{field}', qu'econnector ne connaît pas.",
        "Prévenez l'éditeur du logiciel : supprimer '{field}', ou placer ses propres "
        "données sous un nom commençant par x-.",
    ),
    "field-type": (
        "La valeur de '{field}' n'est pas écrite sous la bonne forme : elle doit être "
        "{expected}{yaml_reading}.",
        "Corrigez '{field}' (attendu : {expected}) et renvoyez le document ; si c'est le "
        "logiciel du cabinet qui l'a écrit, prévenez son éditeur.",
    ),
    "field-invalid": (
        "La valeur de '{field}' n'est pas valable : {detail}",
        "{hint_detail}",
    ),
    "document-id-invalid": (
        "Le numéro du document doit compter de 1 à 64 caractères : lettres sans "
        "accents, chiffres, points, tirets et tirets bas.",
        "Utilisez le numéro de document du cabinet, p. ex. 2026-000123, et renvoyez le "
        "document.",
    ),
    "document-type-unknown": (
        "Le type de document '{value}' est inconnu.",
        "Choisissez l'un des types invoice (facture), prescription (ordonnance), "
        "certificate (certificat) ou sick-leave-certificate (certificat d'incapacité de "
        "travail), puis renvoyez le document.",
    ),
    "document-type-medical": (
        "Le type de document '{value}' est un contenu médical : il a sa place dans le "
        "dossier de soins partagé (DSP), pas dans le coffre-fort administratif du "
        "patient.",
        "Envoyez les documents médicaux au DSP ; seuls les factures, ordonnances, "
        "certificats et certificats d'incapacité de travail passent par econnector.",
    ),
    "issued-at-invalid": (
        "La date et l'heure du document ne sont pas valables ({value}) ; elles doivent "
        "indiquer le fuseau horaire.",
        "Prévenez l'éditeur du logiciel : écrire la date comme 2026-11-25T10:15:00+01:00.",
    ),
    "language-unsupported": (
        "La langue '{value}' n'est pas disponible pour les accusés.",
        "Choisissez le français (fr), l'allemand (de) ou l'anglais (en), ou laissez la "
        "langue vide pour utiliser celle du cabinet.",
    ),
    "matricule-format": (
        "Le matricule du patient (numéro d'identification national) doit compter "
        "exactement 13 chiffres.",
        "Corrigez le matricule dans le dossier du patient (13 chiffres, sans espaces) et "
        "renvoyez le document.",
    ),
    "matricule-date": (
        "Le matricule du patient ne commence pas par une date de naissance possible "
        "(les 8 premiers chiffres : année, mois, jour).",
        "Vérifiez les 8 premiers chiffres sur la pièce d'identité du patient, corrigez "
        "son dossier et renvoyez le document.",
    ),
    "matricule-luhn": (
        "Le matricule du patient contient une faute de frappe : son 12e chiffre (un "
        "chiffre de contrôle) ne correspond pas aux autres.",
        "Vérifiez le numéro sur la carte de sécurité sociale du patient, corrigez son "
        "dossier et renvoyez le document.",
    ),
    "matricule-verhoeff": (
        "Le matricule du patient contient une faute de frappe : son 13e chiffre (un "
        "chiffre de contrôle) ne correspond pas aux autres.",
        "Vérifiez le numéro sur la carte de sécurité sociale du patient, corrigez son "
        "dossier et renvoyez le document.",
    ),
    "insurer-unknown": (
        "La caisse de maladie '{value}' est inconnue.",
        "Choisissez CNS, CMFEP, CMFEC, EMCFL ou RCAM dans le dossier du patient et "
        "renvoyez le document.",
    ),
    "provider-unknown": (
        "Aucun médecin avec le code prestataire {value} n'est configuré dans econnector.",
        "Vérifiez le médecin choisi dans le logiciel du cabinet, ou demandez au service "
        "informatique d'ajouter la clé de signature de ce médecin à econnector.",
    ),
    "assistant-not-authorized": (
        "« {value} » n'est pas autorisé à envoyer des documents pour le médecin {provider} : "
        '{detail}.',
        "Envoyez le document sous l'identifiant du médecin lui-même, ou demandez au médecin "
        "d'enregistrer cet assistant (econnector assistant add), puis envoyez-le à nouveau.",
    ),
    "query-syntax": (
        'Le fichier de question ne peut pas être lu comme {format} : {detail}',
        "Posez la question à nouveau ; si cela se reproduit, prévenez l'éditeur du logiciel.",
    ),
    "query-unsupported": (
        'Le fichier de question demande « {value} », à quoi econnector ne répond pas.',
        "Prévenez l'éditeur du logiciel : le contrat de dossiers liste les questions "
        'auxquelles econnector répond (query: patient-status).',
    ),
    "invoice-missing": (
        "Le document est une facture, mais son montant, sa devise et son état de "
        "paiement manquent.",
        "Complétez la facture dans le logiciel du cabinet et renvoyez-la.",
    ),
    "invoice-not-allowed": (
        "Le document contient des données de facture, mais son type est {value} et non "
        "facture.",
        "Corrigez le type du document, ou retirez les données de facture, et renvoyez le "
        "document.",
    ),
    "invoice-total-invalid": (
        "Le montant de la facture n'est pas valable ({value}) : il doit être supérieur "
        "à 0, avec 2 décimales au plus.",
        "Corrigez le montant (p. ex. 84.60) et renvoyez la facture.",
    ),
    "invoice-currency": (
        "La devise de la facture doit être EUR ({value}).",
        "Indiquez la devise EUR et renvoyez la facture.",
    ),
    "sidecar-missing": (
        "Le PDF {stem}.pdf a attendu son fichier de données ({stem}.yaml, {stem}.yml ou "
        "{stem}.json) pendant {seconds} secondes, mais il n'est jamais arrivé ; rien n'a "
        "été signé ni envoyé.",
        "Renvoyez le document depuis le logiciel du cabinet ; le PDF et son fichier de "
        "données doivent porter le même nom.",
    ),
    "drop-withdrawn": (
        "Le fichier {name} a été retiré du dossier outbox avant qu'econnector ait "
        "terminé ; rien n'a été envoyé.",
        "Si le document doit encore partir, renvoyez-le depuis le logiciel du cabinet.",
    ),
    "file-not-regular": (
        "Le fichier {name} est {kind}, pas un fichier ordinaire ; econnector ne l'ouvre "
        "pas, et rien n'a été signé ni envoyé.",
        "Placez le PDF et son fichier de données dans le dossier outbox comme fichiers "
        "ordinaires (sans raccourcis ni liens), puis renvoyez-les.",
    ),
    "file-replaced": (
        "Le fichier {name} a été remplacé ou modifié pendant qu'econnector le traitait ; "
        "l'ancienne version n'a pas été envoyée. La nouvelle version est traitée comme "
        "un nouveau document.",
        "Rien à faire pour la nouvelle version. Si cela arrive souvent, prévenez "
        "l'éditeur du logiciel : un fichier déposé ne doit plus être modifié.",
    ),
    "duplicate-document-id": (
        "Le document numéro {value} du prestataire {provider} a déjà été envoyé avec un "
        "autre contenu.",
        "Un document envoyé ne peut plus être modifié : donnez un nouveau numéro au "
        "document corrigé et envoyez-le.",
    ),
    "pdf-empty": (
        "Le fichier PDF est vide.",
        "Créez à nouveau le PDF dans le logiciel du cabinet et envoyez-le une fois "
        "complet.",
    ),
    "pdf-not-pdf": (
        "Le fichier n'est pas un document PDF (peut-être un autre type de fichier "
        "renommé en .pdf).",
        "Envoyez l'export PDF du document, pas un fichier Word, une image ou un autre "
        "format.",
    ),
    "pdf-incomplete": (
        "Le PDF est tronqué : sa fin manquait encore après {seconds} secondes.",
        "Créez à nouveau le PDF, vérifiez que la copie se termine, puis renvoyez-le.",
    ),
    "pdf-too-large": (
        "Le PDF est trop volumineux ({size} octets ; {limit} octets au plus).",
        "Numérisez avec une résolution plus basse ou divisez le document, puis "
        "renvoyez-le.",
    ),
    "pdf-damaged": (
        "Le PDF est endommagé et ne peut pas être lu : {detail}",
        "Créez à nouveau le PDF dans le logiciel du cabinet et renvoyez-le.",
    ),
    "pdf-encrypted": (
        "Le PDF est protégé par un mot de passe ou des restrictions, ce qui n'est pas "
        "accepté.",
        "Créez à nouveau le PDF sans mot de passe ni restrictions et renvoyez-le.",
    ),
    "pdf-javascript": (
        "Le PDF contient un script (JavaScript), ce qui n'est pas accepté.",
        "Créez à nouveau le PDF avec une simple impression en PDF et renvoyez-le.",
    ),
    "pdf-launch-action": (
        "Le PDF contient une action qui peut lancer des programmes, ce qui n'est pas "
        "accepté.",
        "Créez à nouveau le PDF sans liens qui ouvrent des fichiers ou des programmes et "
        "renvoyez-le.",
    ),
    "pdf-embedded-executable": (
        "Le PDF contient un programme en pièce jointe ({name}), ce qui n'est pas "
        "accepté.",
        "Créez à nouveau le PDF sans cette pièce jointe ; les pièces jointes de données "
        "comme le XML Factur-X sont acceptées.",
    ),
    "pdf-xfa": (
        "Le PDF contient un formulaire dynamique (XFA), qui ne peut pas être signé de "
        "façon fiable et n'est pas accepté.",
        "Créez à nouveau le PDF avec un formulaire aplati ou ordinaire et renvoyez-le.",
    ),
    "pdf-embedded-pdf-action": (
        "Le PDF contient un lien qui ouvre un autre PDF joint, ce qui n'est pas accepté.",
        "Créez à nouveau le PDF sans liens qui ouvrent des pièces jointes ; les pièces "
        "jointes elles-mêmes sont acceptées.",
    ),
    "pdf-remote-action": (
        "Le PDF contient une action ({action}) qui pointe hors du document ({target}), "
        "ce qui n'est pas accepté.",
        "Créez à nouveau le PDF sans liens vers des fichiers réseau ni formulaires qui "
        "envoient des données ; les liens web et e-mail ordinaires sont acceptés.",
    ),
    "pdf-too-many-pages": (
        "Le PDF a {pages} pages ; {limit} au plus sont acceptées.",
        "Divisez le document et envoyez les parties séparément.",
    ),
    "pdf-too-complex": (
        "Le PDF est trop complexe à traiter (il faudrait plus de {limit} Mio de "
        "mémoire).",
        "Créez à nouveau le PDF ; un document administratif ordinaire est bien plus "
        "petit.",
    ),
    "pdf-processing-timeout": (
        "Le traitement du PDF a duré plus de {seconds} secondes et a été arrêté.",
        "Créez à nouveau le PDF ; le fichier est peut-être endommagé.",
    ),
    "pdf-certified-no-changes": (
        "Le PDF est déjà certifié d'une manière qui interdit toute modification ; il ne "
        "peut donc pas être signé.",
        "Envoyez le document avant sa certification, ou sans elle.",
    ),
    "pdf-signing-failed": (
        "Le PDF n'a pas pu être signé : {detail}",
        "Créez à nouveau le PDF et renvoyez-le ; si cela se reproduit, remettez le "
        "fichier au service informatique.",
    ),
    "vault-rejected": (
        "Le coffre-fort du patient a refusé le document ({status} {vault_code}) : "
        "{detail}",
        "Corrigez ce que le coffre-fort indique et renvoyez le document.",
    ),
    "vault-conflict": (
        "Le coffre-fort contient déjà un autre document sous ce numéro de document.",
        "Donnez un nouveau numéro au document corrigé et envoyez-le.",
    ),
    "vault-too-large": (
        "Le coffre-fort a refusé le document parce qu'il est trop volumineux.",
        "Numérisez avec une résolution plus basse ou divisez le document, puis "
        "renvoyez-le.",
    ),
    "patient-opted-out": (
        "Le patient a choisi de ne pas utiliser le coffre-fort numérique : le document "
        "a été signé mais pas envoyé.",
        "Imprimez le PDF signé {signed} du dossier inbox et remettez-le au patient.",
    ),
    "vault-unavailable": (
        "Le coffre-fort est injoignable pour le moment ({detail}) ; econnector réessaie.",
        "Rien à faire : le document part dès que le coffre-fort répond.",
    ),
    "vault-unauthorized": (
        "Le coffre-fort a refusé l'accès d'econnector ({status}) ; tous les envois sont "
        "suspendus.",
        "Prévenez le service informatique : le jeton du coffre-fort dans la "
        "configuration d'econnector doit être renouvelé ou corrigé. Les documents "
        "attendent et partent ensuite.",
    ),
    "file-busy": (
        "Le fichier ne peut pas encore être lu ({detail}) ; econnector réessaie.",
        "Rien à faire, sauf si cela dure : un autre programme utilise encore le fichier.",
    ),
    "certificate-expired": (
        "Le certificat de signature du prestataire {provider} a expiré le {not_after} ; "
        "econnector ne signe pas avec lui.",
        "Le médecin a besoin d'un certificat renouvelé ; le service informatique "
        "l'installe et lance 'econnector check-config'. Les documents attendent et sont "
        "signés dès qu'il est en place.",
    ),
    "certificate-not-yet-valid": (
        "Le certificat de signature du prestataire {provider} n'est valable qu'à partir "
        "du {not_before} ; econnector ne signe pas avec lui avant cette date.",
        "Rien à faire si cette date est proche ; sinon, le service informatique vérifie "
        "l'horloge de l'ordinateur et le certificat.",
    ),
    "certificate-revoked": (
        "Le certificat de signature du prestataire {provider} a été révoqué par son "
        "autorité de certification ({detail}) ; econnector ne signe pas avec lui.",
        "Le médecin doit obtenir un nouveau certificat ; le service informatique "
        "l'installe et lance 'econnector check-config'. Les documents attendent et sont "
        "signés dès qu'il est en place.",
    ),
    "certificate-key-usage": (
        "Le certificat du prestataire {provider} n'est pas destiné à la signature (il "
        "permet : {usages}) ; econnector ne signe pas avec lui.",
        "Prévenez le service informatique : la configuration doit désigner le certificat "
        "de signature du médecin, pas celui de connexion ou de chiffrement. Les documents "
        "attendent jusque-là.",
    ),
    "token-absent": (
        "La carte à puce ou la clé de signature du prestataire {provider} n'est pas "
        "branchée ({detail}).",
        "Branchez la carte ou la clé du médecin ; les documents attendent et sont signés "
        "ensuite.",
    ),
    "tsa-unavailable": (
        "Le service d'horodatage {service} n'a pas répondu ({detail}) ; econnector "
        "réessaie.",
        "Rien à faire sauf si cela dure ; prévenez alors le service informatique "
        "(signing.tsa.url dans la configuration).",
    ),
    "revocation-unavailable": (
        "Le service de statut des certificats {service} n'a pas répondu ({detail}) ; "
        "econnector réessaie.",
        "Rien à faire sauf si cela dure ; prévenez alors le service informatique : le "
        "service de statut de l'autorité de certification doit être joignable depuis cet "
        "ordinateur.",
    ),
    "signature-check-failed": (
        "La signature faite pour ce document n'a pas passé le contrôle d'econnector "
        "({defect}) ; il n'a pas été envoyé.",
        "Prévenez le service informatique : vérifier signing.trust_roots et le certificat "
        "du médecin avec 'econnector check-config', puis redémarrer econnector ; le "
        "document est alors signé à nouveau.",
    ),
    "signature-invalid": (
        "Le coffre-fort a refusé la signature de ce document ({defect}) ; il n'a pas été "
        "enregistré.",
        "Prévenez le service informatique : vérifier le certificat du médecin et "
        "signing.trust_roots avec 'econnector check-config', puis redémarrer econnector ; le "
        "document est alors signé et envoyé à nouveau.",
    ),
    "vault-tls": (
        "L'identité du coffre-fort n'a pas pu être vérifiée ({detail}) ; tous les envois "
        "sont suspendus.",
        "Prévenez le service informatique : vérifier vault.url et vault.ca_bundle dans "
        "la configuration d'econnector, puis lancer 'econnector check-config'.",
    ),
    "outbox-missing": (
        "Le dossier outbox {path} est absent ou illisible ; econnector l'attend.",
        "Prévenez le service informatique : connecter le lecteur réseau ou créer le "
        "dossier ; econnector reprend de lui-même.",
    ),
    "inbox-missing": (
        "Le dossier inbox {path} est absent ou n'accepte pas l'écriture ; econnector "
        "l'attend.",
        "Prévenez le service informatique : connecter le lecteur réseau ou créer le "
        "dossier ; econnector reprend de lui-même.",
    ),
    "identity-locked": (
        "La clé de signature du prestataire {provider} est verrouillée ou indisponible "
        "({detail}).",
        "Le médecin ou le service informatique déverrouille la clé de signature ; les "
        "documents attendent et sont signés ensuite.",
    ),
    "awaiting-sidecar": (
        "Le PDF attend son fichier de données {stem}.yaml, {stem}.yml ou {stem}.json.",
        "Rien à faire si le logiciel du cabinet est encore en train d'envoyer ; sinon, "
        "renvoyez le document.",
    ),
    "awaiting-pdf": (
        "Le fichier de données attend son PDF {stem}.pdf.",
        "Rien à faire si le logiciel du cabinet est encore en train d'envoyer ; sinon, "
        "renvoyez le document.",
    ),
    "awaiting-eof": (
        "Le PDF n'est pas encore complet ; econnector attend qu'il soit entièrement "
        "écrit.",
        "Rien à faire tant que le PDF est en cours de création.",
    ),
    "internal-error": (
        "econnector a rencontré une erreur inattendue ({detail}).",
        "Prévenez le service informatique et remettez-lui le journal d'econnector ; "
        "l'original est conservé.",
    ),
    "secret-file-exposed": (
        "{what} : le fichier secret {path} a les droits {mode} ({how}) ; econnector "
        "refuse de démarrer avec un secret que d'autres utilisateurs peuvent lire ou "
        "modifier.",
        "Correction : chmod 600 {path} (propriétaire : l'utilisateur du service ; ou 640 "
        "avec un groupe qui ne contient que le service), puis relancez 'econnector "
        "check-config'.",
    ),
    "store-too-new": (
        "La base de données {path} est en version de schéma {value} : une version plus "
        "récente d'econnector l'a écrite, et celle-ci ne connaît que les versions jusqu'à "
        "{limit}. econnector ne l'ouvre pas et ne l'a pas modifiée.",
        "Installez la version d'econnector qui l'a écrite (ou une plus récente), ou "
        "arrêtez le service et restaurez la sauvegarde faite avant la mise à jour "
        "(docs/install-linux.md, Upgrade).",
    ),
}
