"""The French and German texts of the error catalog, and the phrases raisers pass.

The English texts and the codes live in :data:`econnector.errors.CATALOG`; this
module holds the same message and hint for each code in French and German, for
the person at the front desk of a practice in Luxembourg (formal "vous"/"Sie";
"coffre-fort"/"Patientensafe", "caisse"/"Kasse" as on the receipts). Parameter
names are the same in every language. tests/test_i18n.py checks that every code
has both translations and that no English is left in them.

Pure data and two small pure functions; it imports nothing of econnector, so
:mod:`econnector.errors` can use it.
"""

from __future__ import annotations

from typing import Any, Final

LANGUAGES: Final = ("fr", "de", "en")

# code -> (message, hint); str.format fields as in the English catalog.
TEXTS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "fr": {
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
    },
    "de": {
        "bad-file-name": (
            "Der Dateiname '{name}' kann von econnector nicht verwendet werden.",
            "Benennen Sie das PDF und seine Begleitdatei (gleicher Name, Endung .yaml, .yml "
            "oder .json) um: nur Buchstaben ohne Umlaute und Akzente, Ziffern, Punkte, "
            "Bindestriche und Unterstriche, am Anfang ein Buchstabe oder eine Ziffer, "
            "höchstens 120 Zeichen (z. B. 2026-000123.pdf). Legen Sie dann beide Dateien "
            "erneut ab.",
        ),
        "sidecar-ambiguous": (
            "Für {stem}.pdf wurde mehr als eine Begleitdatei abgelegt ({stem}.yaml, "
            "{stem}.yml oder {stem}.json); econnector kann nicht erkennen, welche gilt.",
            "Legen Sie das PDF erneut mit genau einer Begleitdatei ab.",
        ),
        "sidecar-orphaned": (
            "Die Begleitdatei zu {stem}.pdf hat {seconds} Sekunden auf ihr PDF gewartet, "
            "das nie ankam; nichts wurde gesendet.",
            "Senden Sie das Dokument erneut aus der Praxissoftware (das PDF und seine "
            "Begleitdatei mit gleichem Namen).",
        ),
        "sidecar-too-large": (
            "Die Begleitdatei des Dokuments ist zu groß ({size} Bytes; höchstens {limit} "
            "Bytes).",
            "Die Begleitdatei darf das Dokument nur beschreiben; informieren Sie den "
            "Softwarehersteller.",
        ),
        "sidecar-encoding": (
            "Die Begleitdatei des Dokuments ist kein lesbarer Text (sie muss als UTF-8 "
            "gespeichert sein).",
            "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
            "Softwarehersteller.",
        ),
        "sidecar-syntax": (
            "Die Begleitdatei des Dokuments ist beschädigt und kann nicht als {format} "
            "gelesen werden: {detail}",
            "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
            "Softwarehersteller.",
        ),
        "sidecar-yaml-feature": (
            "Die Begleitdatei des Dokuments verwendet eine Schreibweise, die nicht "
            "angenommen wird: {detail}",
            "Informieren Sie den Softwarehersteller: Die Begleitdatei muss einfaches YAML "
            "sein, wie in den Beispielen des Ordnervertrags.",
        ),
        "sidecar-not-mapping": (
            "Die Begleitdatei des Dokuments ist leer oder enthält keine Angaben zum Dokument.",
            "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
            "Softwarehersteller.",
        ),
        "sidecar-schema": (
            "Die Begleitdatei des Dokuments hat eine unbekannte Formatversion ({value}).",
            "Informieren Sie den Softwarehersteller: In der Begleitdatei muss "
            "schema: econnector.document/v1 stehen.",
        ),
        "field-missing": (
            "Die Angaben zum Dokument sind unvollständig: '{field}' fehlt.",
            "Ergänzen Sie '{field}' in der Praxissoftware und senden Sie das Dokument erneut.",
        ),
        "field-unknown": (
            "Die Angaben zum Dokument enthalten '{field}', das econnector nicht kennt.",
            "Informieren Sie den Softwarehersteller: '{field}' entfernen oder eigene Angaben "
            "unter einem Namen ablegen, der mit x- beginnt.",
        ),
        "field-type": (
            "Der Wert von '{field}' ist in der falschen Form geschrieben: erwartet wird "
            "{expected}{yaml_reading}.",
            "Korrigieren Sie '{field}' (erwartet: {expected}) und senden Sie das Dokument "
            "erneut; hat die Praxissoftware es geschrieben, informieren Sie den Hersteller.",
        ),
        "field-invalid": (
            "Der Wert von '{field}' ist ungültig: {detail}",
            "{hint_detail}",
        ),
        "document-id-invalid": (
            "Die Dokumentnummer muss 1 bis 64 Zeichen haben: Buchstaben ohne Umlaute und "
            "Akzente, Ziffern, Punkte, Bindestriche und Unterstriche.",
            "Verwenden Sie die Dokumentnummer der Praxis, z. B. 2026-000123, und senden Sie "
            "das Dokument erneut.",
        ),
        "document-type-unknown": (
            "Die Dokumentart '{value}' ist unbekannt.",
            "Wählen Sie eine der Arten invoice (Rechnung), prescription (Verschreibung), "
            "certificate (Bescheinigung) oder sick-leave-certificate "
            "(Arbeitsunfähigkeitsbescheinigung) und senden Sie das Dokument erneut.",
        ),
        "document-type-medical": (
            "Die Dokumentart '{value}' ist medizinischer Inhalt: Sie gehört in die "
            "gemeinsame Patientenakte (DSP), nicht in den administrativen Patientensafe.",
            "Senden Sie medizinische Dokumente an die DSP; nur Rechnungen, Verschreibungen, "
            "Bescheinigungen und Arbeitsunfähigkeitsbescheinigungen gehen über econnector.",
        ),
        "issued-at-invalid": (
            "Datum und Uhrzeit des Dokuments sind ungültig ({value}); sie müssen die "
            "Zeitzone enthalten.",
            "Informieren Sie den Softwarehersteller: Datum wie 2026-11-25T10:15:00+01:00 "
            "schreiben.",
        ),
        "language-unsupported": (
            "Die Sprache '{value}' ist für Bestätigungen nicht verfügbar.",
            "Wählen Sie Französisch (fr), Deutsch (de) oder Englisch (en), oder lassen Sie "
            "die Sprache leer, dann gilt die Sprache der Praxis.",
        ),
        "matricule-format": (
            "Die Matrikelnummer des Patienten (nationale Identifikationsnummer) muss genau "
            "13 Ziffern haben.",
            "Korrigieren Sie die Matrikelnummer in der Patientenakte (13 Ziffern, ohne "
            "Leerzeichen) und senden Sie das Dokument erneut.",
        ),
        "matricule-date": (
            "Die Matrikelnummer des Patienten beginnt nicht mit einem möglichen "
            "Geburtsdatum (die ersten 8 Ziffern: Jahr, Monat, Tag).",
            "Prüfen Sie die ersten 8 Ziffern am Ausweis des Patienten, korrigieren Sie die "
            "Patientenakte und senden Sie das Dokument erneut.",
        ),
        "matricule-luhn": (
            "Die Matrikelnummer des Patienten enthält einen Tippfehler: Die 12. Ziffer "
            "(eine Prüfziffer) passt nicht zu den übrigen.",
            "Prüfen Sie die Nummer auf der Sozialversicherungskarte des Patienten, "
            "korrigieren Sie die Patientenakte und senden Sie das Dokument erneut.",
        ),
        "matricule-verhoeff": (
            "Die Matrikelnummer des Patienten enthält einen Tippfehler: Die 13. Ziffer "
            "(eine Prüfziffer) passt nicht zu den übrigen.",
            "Prüfen Sie die Nummer auf der Sozialversicherungskarte des Patienten, "
            "korrigieren Sie die Patientenakte und senden Sie das Dokument erneut.",
        ),
        "insurer-unknown": (
            "Die Krankenkasse '{value}' ist unbekannt.",
            "Wählen Sie in der Patientenakte CNS, CMFEP, CMFEC, EMCFL oder RCAM und senden "
            "Sie das Dokument erneut.",
        ),
        "provider-unknown": (
            "In econnector ist kein Arzt mit dem Leistungserbringer-Code {value} "
            "eingerichtet.",
            "Prüfen Sie den in der Praxissoftware gewählten Arzt, oder bitten Sie die IT, "
            "den Signaturschlüssel dieses Arztes in econnector einzurichten.",
        ),
        "invoice-missing": (
            "Das Dokument ist eine Rechnung, aber Betrag, Währung und Zahlungsstatus fehlen.",
            "Vervollständigen Sie die Rechnung in der Praxissoftware und senden Sie sie "
            "erneut.",
        ),
        "invoice-not-allowed": (
            "Das Dokument enthält Rechnungsangaben, seine Art ist aber {value} und nicht "
            "Rechnung.",
            "Korrigieren Sie die Dokumentart oder entfernen Sie die Rechnungsangaben, und "
            "senden Sie das Dokument erneut.",
        ),
        "invoice-total-invalid": (
            "Der Rechnungsbetrag ist ungültig ({value}): Er muss größer als 0 sein, mit "
            "höchstens 2 Nachkommastellen.",
            "Korrigieren Sie den Betrag (z. B. 84.60) und senden Sie die Rechnung erneut.",
        ),
        "invoice-currency": (
            "Die Währung der Rechnung muss EUR sein ({value}).",
            "Stellen Sie die Währung auf EUR und senden Sie die Rechnung erneut.",
        ),
        "sidecar-missing": (
            "Das PDF {stem}.pdf hat {seconds} Sekunden auf seine Begleitdatei ({stem}.yaml, "
            "{stem}.yml oder {stem}.json) gewartet, die nie ankam; nichts wurde signiert "
            "oder gesendet.",
            "Senden Sie das Dokument erneut aus der Praxissoftware; das PDF und seine "
            "Begleitdatei müssen gleich heißen.",
        ),
        "drop-withdrawn": (
            "Die Datei {name} wurde aus dem Ordner outbox entfernt, bevor econnector fertig "
            "war; nichts wurde gesendet.",
            "Soll das Dokument noch hinausgehen, senden Sie es erneut aus der Praxissoftware.",
        ),
        "file-not-regular": (
            "Die Datei {name} ist {kind}, keine gewöhnliche Datei; econnector öffnet sie "
            "nicht, und nichts wurde signiert oder gesendet.",
            "Legen Sie das PDF und seine Begleitdatei als gewöhnliche Dateien (keine "
            "Verknüpfungen) in den Ordner outbox und senden Sie sie erneut.",
        ),
        "file-replaced": (
            "Die Datei {name} wurde ersetzt oder geändert, während econnector sie bearbeitete; "
            "die frühere Fassung wurde nicht gesendet. Die neue Fassung wird als neues "
            "Dokument bearbeitet.",
            "Für die neue Fassung ist nichts zu tun. Passiert das oft, informieren Sie den "
            "Softwarehersteller: Abgelegte Dateien dürfen nicht mehr geändert werden.",
        ),
        "duplicate-document-id": (
            "Die Dokumentnummer {value} des Leistungserbringers {provider} wurde bereits mit "
            "anderem Inhalt gesendet.",
            "Ein gesendetes Dokument kann nicht geändert werden: Geben Sie dem korrigierten "
            "Dokument eine neue Dokumentnummer und senden Sie es.",
        ),
        "pdf-empty": (
            "Die PDF-Datei ist leer.",
            "Erstellen Sie das PDF in der Praxissoftware neu und senden Sie es, sobald es "
            "vollständig ist.",
        ),
        "pdf-not-pdf": (
            "Die Datei ist kein PDF-Dokument (vielleicht eine andere Datei, in .pdf "
            "umbenannt).",
            "Senden Sie den PDF-Export des Dokuments, keine Word-Datei, kein Bild und kein "
            "anderes Format.",
        ),
        "pdf-incomplete": (
            "Das PDF ist abgeschnitten: Sein Ende fehlte auch nach {seconds} Sekunden noch.",
            "Erstellen Sie das PDF neu, achten Sie darauf, dass das Kopieren abgeschlossen "
            "ist, und senden Sie es erneut.",
        ),
        "pdf-too-large": (
            "Das PDF ist zu groß ({size} Bytes; höchstens {limit} Bytes).",
            "Scannen Sie mit geringerer Auflösung oder teilen Sie das Dokument, und senden "
            "Sie es erneut.",
        ),
        "pdf-damaged": (
            "Das PDF ist beschädigt und kann nicht gelesen werden: {detail}",
            "Erstellen Sie das PDF in der Praxissoftware neu und senden Sie es erneut.",
        ),
        "pdf-encrypted": (
            "Das PDF ist mit einem Passwort oder mit Einschränkungen geschützt; das wird "
            "nicht angenommen.",
            "Erstellen Sie das PDF ohne Passwort und ohne Einschränkungen neu und senden Sie "
            "es erneut.",
        ),
        "pdf-javascript": (
            "Das PDF enthält ein Skript (JavaScript); das wird nicht angenommen.",
            "Erstellen Sie das PDF mit einfachem Drucken als PDF neu und senden Sie es "
            "erneut.",
        ),
        "pdf-launch-action": (
            "Das PDF enthält eine Aktion, die Programme starten kann; das wird nicht "
            "angenommen.",
            "Erstellen Sie das PDF ohne Verknüpfungen, die Dateien oder Programme öffnen, "
            "neu und senden Sie es erneut.",
        ),
        "pdf-embedded-executable": (
            "Das PDF enthält ein angehängtes Programm ({name}); das wird nicht angenommen.",
            "Erstellen Sie das PDF ohne diesen Anhang neu; Datenanhänge wie Factur-X-XML "
            "sind erlaubt.",
        ),
        "pdf-xfa": (
            "Das PDF enthält ein dynamisches Formular (XFA), das nicht zuverlässig signiert "
            "werden kann und nicht angenommen wird.",
            "Erstellen Sie das PDF mit einem reduzierten oder gewöhnlichen Formular neu und "
            "senden Sie es erneut.",
        ),
        "pdf-embedded-pdf-action": (
            "Das PDF enthält eine Verknüpfung, die ein angehängtes PDF öffnet; das wird "
            "nicht angenommen.",
            "Erstellen Sie das PDF ohne Verknüpfungen zu Anhängen neu; die Anhänge selbst "
            "sind erlaubt.",
        ),
        "pdf-remote-action": (
            "Das PDF enthält eine Aktion ({action}), die aus dem Dokument hinaus zeigt "
            "({target}); das wird nicht angenommen.",
            "Erstellen Sie das PDF ohne Verknüpfungen zu Netzwerkdateien und ohne "
            "Formulare, die Daten senden, neu; gewöhnliche Web- und E-Mail-Verknüpfungen "
            "sind erlaubt.",
        ),
        "pdf-too-many-pages": (
            "Das PDF hat {pages} Seiten; höchstens {limit} werden angenommen.",
            "Teilen Sie das Dokument und senden Sie die Teile einzeln.",
        ),
        "pdf-too-complex": (
            "Das PDF ist zu aufwendig für die Verarbeitung (mehr als {limit} MiB Speicher "
            "nötig).",
            "Erstellen Sie das PDF neu; ein gewöhnliches Verwaltungsdokument ist viel kleiner.",
        ),
        "pdf-processing-timeout": (
            "Die Verarbeitung des PDFs dauerte länger als {seconds} Sekunden und wurde "
            "abgebrochen.",
            "Erstellen Sie das PDF neu; die Datei ist vielleicht beschädigt.",
        ),
        "pdf-certified-no-changes": (
            "Das PDF ist bereits so zertifiziert, dass keine Änderung erlaubt ist; es kann "
            "daher nicht signiert werden.",
            "Senden Sie das Dokument vor der Zertifizierung oder ohne sie.",
        ),
        "pdf-signing-failed": (
            "Das PDF konnte nicht signiert werden: {detail}",
            "Erstellen Sie das PDF neu und senden Sie es erneut; passiert es wieder, geben "
            "Sie die Datei an die IT.",
        ),
        "vault-rejected": (
            "Der Patientensafe hat das Dokument abgelehnt ({status} {vault_code}): {detail}",
            "Korrigieren Sie, was der Safe nennt, und senden Sie das Dokument erneut.",
        ),
        "vault-conflict": (
            "Der Safe enthält unter dieser Dokumentnummer bereits ein anderes Dokument.",
            "Geben Sie dem korrigierten Dokument eine neue Dokumentnummer und senden Sie es.",
        ),
        "vault-too-large": (
            "Der Safe hat das Dokument abgelehnt, weil es zu groß ist.",
            "Scannen Sie mit geringerer Auflösung oder teilen Sie das Dokument, und senden "
            "Sie es erneut.",
        ),
        "patient-opted-out": (
            "Der Patient hat sich gegen den digitalen Safe entschieden: Das Dokument wurde "
            "signiert, aber nicht gesendet.",
            "Drucken Sie das signierte PDF {signed} aus dem Ordner inbox aus und geben Sie "
            "es dem Patienten.",
        ),
        "vault-unavailable": (
            "Der Safe ist im Moment nicht erreichbar ({detail}); econnector versucht es "
            "weiter.",
            "Nichts zu tun: Das Dokument wird gesendet, sobald der Safe antwortet.",
        ),
        "vault-unauthorized": (
            "Der Safe hat den Zugang von econnector abgelehnt ({status}); alle Sendungen "
            "sind angehalten.",
            "Informieren Sie die IT: Das Safe-Token in der Konfiguration von econnector "
            "muss erneuert oder korrigiert werden. Die Dokumente warten und gehen danach "
            "hinaus.",
        ),
        "file-busy": (
            "Die Datei kann noch nicht gelesen werden ({detail}); econnector versucht es "
            "erneut.",
            "Nichts zu tun, außer es dauert an: Ein anderes Programm verwendet die Datei "
            "noch.",
        ),
        "certificate-expired": (
            "Das Signaturzertifikat des Leistungserbringers {provider} ist am {not_after} "
            "abgelaufen; econnector signiert nicht damit.",
            "Der Arzt braucht ein erneuertes Zertifikat; die IT installiert es und führt "
            "'econnector check-config' aus. Die Dokumente warten und werden danach "
            "signiert.",
        ),
        "certificate-not-yet-valid": (
            "Das Signaturzertifikat des Leistungserbringers {provider} gilt erst ab "
            "{not_before}; econnector signiert vorher nicht damit.",
            "Nichts zu tun, wenn das Datum nahe ist; sonst prüft die IT die Uhr des "
            "Computers und das Zertifikat.",
        ),
        "vault-tls": (
            "Die Identität des Safes konnte nicht überprüft werden ({detail}); alle "
            "Sendungen sind angehalten.",
            "Informieren Sie die IT: vault.url und vault.ca_bundle in der Konfiguration von "
            "econnector prüfen, dann 'econnector check-config' ausführen.",
        ),
        "outbox-missing": (
            "Der Ordner outbox {path} fehlt oder ist nicht lesbar; econnector wartet darauf.",
            "Informieren Sie die IT: Netzlaufwerk verbinden oder Ordner anlegen; econnector "
            "macht von selbst weiter.",
        ),
        "inbox-missing": (
            "Der Ordner inbox {path} fehlt oder ist nicht beschreibbar; econnector wartet "
            "darauf.",
            "Informieren Sie die IT: Netzlaufwerk verbinden oder Ordner anlegen; econnector "
            "macht von selbst weiter.",
        ),
        "identity-locked": (
            "Der Signaturschlüssel des Leistungserbringers {provider} ist gesperrt oder "
            "nicht verfügbar ({detail}).",
            "Der Arzt oder die IT entsperrt den Signaturschlüssel; die Dokumente warten und "
            "werden danach signiert.",
        ),
        "awaiting-sidecar": (
            "Das PDF wartet auf seine Begleitdatei {stem}.yaml, {stem}.yml oder {stem}.json.",
            "Nichts zu tun, wenn die Praxissoftware noch sendet; sonst senden Sie das "
            "Dokument erneut.",
        ),
        "awaiting-pdf": (
            "Die Begleitdatei wartet auf ihr PDF {stem}.pdf.",
            "Nichts zu tun, wenn die Praxissoftware noch sendet; sonst senden Sie das "
            "Dokument erneut.",
        ),
        "awaiting-eof": (
            "Das PDF ist noch nicht vollständig; econnector wartet, bis es ganz geschrieben "
            "ist.",
            "Nichts zu tun, solange das PDF noch erstellt wird.",
        ),
        "internal-error": (
            "In econnector ist ein unerwarteter Fehler aufgetreten ({detail}).",
            "Informieren Sie die IT und geben Sie ihr das Protokoll von econnector; das "
            "Original bleibt erhalten.",
        ),
        "secret-file-exposed": (
            "{what}: Die geheime Datei {path} hat die Rechte {mode} ({how}); econnector "
            "startet nicht mit einem Geheimnis, das andere Benutzer lesen oder ändern "
            "können.",
            "Abhilfe: chmod 600 {path} (Eigentümer ist der Dienstbenutzer; oder 640 mit "
            "einer Gruppe, in der nur der Dienst ist), dann erneut 'econnector "
            "check-config' ausführen.",
        ),
    },
}

# Fixed English phrases that raisers pass as parameters (what a value must look
# like, what kind of file something is, a fixed detail): translated when the
# parameter is exactly one of them. Anything else (a parser's detail, a file
# name) is shown as it is.
PHRASES: Final[dict[str, dict[str, str]]] = {
    # field-type: what the value must be
    'a quoted string like "2026-000123"': {
        "fr": 'un texte entre guillemets comme "2026-000123"',
        "de": 'ein Text in Anführungszeichen wie "2026-000123"',
    },
    "a string such as invoice": {
        "fr": "un texte comme invoice",
        "de": "ein Text wie invoice",
    },
    'a date-time string like "2026-11-25T10:15:00+01:00"': {
        "fr": 'une date et une heure comme "2026-11-25T10:15:00+01:00"',
        "de": 'Datum und Uhrzeit wie "2026-11-25T10:15:00+01:00"',
    },
    "a string: fr, de or en": {
        "fr": "fr, de ou en",
        "de": "fr, de oder en",
    },
    "a mapping of keys to values": {
        "fr": "une liste de noms et de valeurs",
        "de": "eine Liste von Namen und Werten",
    },
    "a quoted string of 13 digits": {
        "fr": "13 chiffres entre guillemets",
        "de": "13 Ziffern in Anführungszeichen",
    },
    "a quoted string": {
        "fr": "un texte entre guillemets",
        "de": "ein Text in Anführungszeichen",
    },
    "a string: CNS, CMFEP, CMFEC, EMCFL or RCAM": {
        "fr": "CNS, CMFEP, CMFEC, EMCFL ou RCAM",
        "de": "CNS, CMFEP, CMFEC, EMCFL oder RCAM",
    },
    "a quoted string of 8 digits": {
        "fr": "8 chiffres entre guillemets",
        "de": "8 Ziffern in Anführungszeichen",
    },
    "the string EUR": {"fr": "EUR", "de": "EUR"},
    "true or false": {"fr": "true (oui) ou false (non)", "de": "true (ja) oder false (nein)"},
    'a quoted decimal string like "84.60"': {
        "fr": 'un montant entre guillemets comme "84.60"',
        "de": 'ein Betrag in Anführungszeichen wie "84.60"',
    },
    # field-type: what an unquoted YAML value was read as
    "a yes/no boolean": {"fr": "un oui/non", "de": "ein Ja/Nein"},
    "an octal, binary or base-60 number": {
        "fr": "un nombre octal, binaire ou en base 60",
        "de": "eine Oktal-, Binär- oder Sexagesimalzahl",
    },
    "a base-60 number": {"fr": "un nombre en base 60", "de": "eine Sexagesimalzahl"},
    "a date or time": {"fr": "une date ou une heure", "de": "ein Datum oder eine Uhrzeit"},
    "a merge key": {"fr": "une clé de fusion", "de": "ein Zusammenführungsschlüssel"},
    "a special value": {"fr": "une valeur spéciale", "de": "ein Sonderwert"},
    "a non-text value": {"fr": "une valeur autre qu'un texte", "de": "ein Wert, der kein Text ist"},
    # field-invalid: detail and hint_detail
    "it must be 1 to 100 characters long.": {
        "fr": "il doit compter de 1 à 100 caractères.",
        "de": "er muss 1 bis 100 Zeichen lang sein.",
    },
    "Shorten it to at most 100 characters, or leave it out.": {
        "fr": "Raccourcissez-le à 100 caractères au plus, ou laissez-le vide.",
        "de": "Kürzen Sie ihn auf höchstens 100 Zeichen oder lassen Sie ihn leer.",
    },
    "it contains line breaks, tabs or similar characters.": {
        "fr": "il contient des sauts de ligne, des tabulations ou des caractères semblables.",
        "de": "er enthält Zeilenumbrüche, Tabulatoren oder ähnliche Zeichen.",
    },
    "Write it on one line, without line breaks or tabs.": {
        "fr": "Écrivez-le sur une seule ligne, sans sauts de ligne ni tabulations.",
        "de": "Schreiben Sie ihn in eine Zeile, ohne Zeilenumbrüche oder Tabulatoren.",
    },
    "a provider code has exactly 8 digits.": {
        "fr": "un code prestataire compte exactement 8 chiffres.",
        "de": "ein Leistungserbringer-Code hat genau 8 Ziffern.",
    },
    "Choose the doctor again in the practice software (8-digit provider code, e.g. "
    "90812100) and send the document again.": {
        "fr": "Choisissez à nouveau le médecin dans le logiciel du cabinet (code prestataire "
        "à 8 chiffres, p. ex. 90812100) et renvoyez le document.",
        "de": "Wählen Sie den Arzt in der Praxissoftware erneut (8-stelliger "
        "Leistungserbringer-Code, z. B. 90812100) und senden Sie das Dokument erneut.",
    },
    "it must be 1 to 64 letters without accents, digits, dots, dashes or underscores.": {
        "fr": "il doit compter de 1 à 64 lettres sans accents, chiffres, points, tirets ou "
        "tirets bas.",
        "de": "er muss aus 1 bis 64 Buchstaben ohne Umlaute, Ziffern, Punkten, Bindestrichen "
        "oder Unterstrichen bestehen.",
    },
    "Use the assistant's login or initials, e.g. anna, or leave it out.": {
        "fr": "Utilisez l'identifiant ou les initiales de l'assistante, p. ex. anna, ou "
        "laissez-le vide.",
        "de": "Verwenden Sie die Anmeldung oder die Initialen der Assistenz, z. B. anna, oder "
        "lassen Sie ihn leer.",
    },
    "infinite and not-a-number values are not allowed.": {
        "fr": "les valeurs infinies ou non numériques ne sont pas permises.",
        "de": "unendliche oder nicht numerische Werte sind nicht erlaubt.",
    },
    "Tell the software vendor: write a finite number or a quoted string.": {
        "fr": "Prévenez l'éditeur du logiciel : écrire un nombre fini ou un texte entre "
        "guillemets.",
        "de": "Informieren Sie den Softwarehersteller: eine endliche Zahl oder einen Text in "
        "Anführungszeichen schreiben.",
    },
    # file-not-regular: what the file is (safeopen.kind_of)
    "a symbolic link": {"fr": "un lien symbolique", "de": "eine symbolische Verknüpfung"},
    "a FIFO (named pipe)": {"fr": "un tube nommé (FIFO)", "de": "eine benannte Pipe (FIFO)"},
    "a folder": {"fr": "un dossier", "de": "ein Ordner"},
    "a socket": {"fr": "un connecteur réseau (socket)", "de": "ein Netzwerk-Socket"},
    "a device": {"fr": "un périphérique", "de": "ein Gerät"},
    "not a regular file": {"fr": "un objet spécial", "de": "ein besonderes Objekt"},
    # fixed details
    "wrong passphrase or damaged key": {
        "fr": "phrase secrète erronée ou clé endommagée",
        "de": "falsche Passphrase oder beschädigter Schlüssel",
    },
    "locked": {"fr": "verrouillée", "de": "gesperrt"},
    "not loaded": {"fr": "non chargée", "de": "nicht geladen"},
    "permission denied": {"fr": "accès refusé", "de": "Zugriff verweigert"},
    "the document has no pages": {
        "fr": "le document n'a aucune page",
        "de": "das Dokument hat keine Seiten",
    },
}

# Only these parameters are looked up: a vendor's value is never "translated".
_PHRASE_KEYS: Final = frozenset(("expected", "reading", "detail", "hint_detail", "kind"))

# field-type adds what YAML read an unquoted value as, when it did: {reading}.
_READING_NOTE: Final = {
    "en": " (without quotes, YAML 1.1 reads this value as {reading})",
    "fr": " (sans guillemets, YAML 1.1 lit cette valeur comme {reading})",
    "de": " (ohne Anführungszeichen liest YAML 1.1 diesen Wert als {reading})",
}

# The status file's message for states that have no reason code.
STATE_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "received": "Received; being checked and signed.",
        "signed": "Signed; being sent to the patient's vault.",
        "delivering": "Being sent to the patient's vault.",
        "delivered": "Placed in the patient's vault; see the receipt.",
        "rejected": "Refused; see the error file.",
    },
    "fr": {
        "received": "Reçu ; vérification et signature en cours.",
        "signed": "Signé ; envoi au coffre-fort du patient en cours.",
        "delivering": "Envoi au coffre-fort du patient en cours.",
        "delivered": "Remis au coffre-fort du patient ; voir l'accusé de dépôt.",
        "rejected": "Refusé ; voir le fichier d'erreur.",
    },
    "de": {
        "received": "Empfangen; wird geprüft und signiert.",
        "signed": "Signiert; wird an den Patientensafe gesendet.",
        "delivering": "Wird an den Patientensafe gesendet.",
        "delivered": "Im Patientensafe hinterlegt; siehe Zustellbestätigung.",
        "rejected": "Abgelehnt; siehe Fehlerdatei.",
    },
}


def template(code: str, language: str) -> tuple[str, str] | None:
    """The French or German (message, hint) of ``code``; None for English or a gap
    (the caller then uses the English catalog)."""
    return TEXTS.get(language, {}).get(code)


def phrase(text: str, language: str) -> str:
    """``text`` in ``language`` if it is a known phrase, else unchanged."""
    return PHRASES.get(text, {}).get(language, text)


def localize_params(params: dict[str, Any], language: str) -> dict[str, Any]:
    """Template parameters for ``language``: known phrases translated, and the derived
    ``yaml_reading`` (empty unless a ``reading`` is given)."""
    out = {
        k: phrase(v, language) if k in _PHRASE_KEYS and isinstance(v, str) else v
        for k, v in params.items()
    }
    reading = out.get("reading")
    note = _READING_NOTE.get(language, _READING_NOTE["en"])
    out["yaml_reading"] = note.format(reading=reading) if reading else ""
    return out

# What ``econnector status`` prints for people (its --json form is the API and stays
# English). The lines about what blocks the daemon carry the catalog message of
# their code (rendered with the parameters of the health file); these are only the
# frames around them. Codes, file names, paths and document numbers are shown as
# they are, so support can match them.
CLI_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "running": "daemon: running (pid {pid})",
        "not-running": "daemon: not running",
        "storage-paused": "PAUSED: storage unusable ({reason}); documents are kept and "
        "resume by themselves",
        "paused": "PAUSED ({code}): {message} {hint}",
        "outage": "WAITING ({code}): {message} Next try: {when}. {hint}",
        "blocked": "LOCKED ({code}): {message} {hint}",
        "blocked-list": "signing identities locked: {providers}",
        "folder": "WAITING ({code}): {message} {hint}",
        "counts": "documents by state: {counts}",
        "none-yet": "none yet",
        "waiting": "waiting or held:",
        "next-try": "; next try {when}",
        "latest": "latest:",
    },
    "fr": {
        "running": "econnector : en marche (processus {pid})",
        "not-running": "econnector : à l'arrêt, aucun document n'est traité ; prévenez le "
        "service informatique",
        "storage-paused": "EN PAUSE : impossible d'écrire dans les dossiers ({reason}) ; "
        "les documents sont conservés et reprennent d'eux-mêmes",
        "paused": "EN PAUSE ({code}) : {message} {hint}",
        "outage": "EN ATTENTE ({code}) : {message} Prochain essai : {when}. {hint}",
        "blocked": "BLOQUÉ ({code}) : {message} {hint}",
        "blocked-list": "identités de signature bloquées : {providers}",
        "folder": "EN ATTENTE ({code}) : {message} {hint}",
        "counts": "documents par état : {counts}",
        "none-yet": "aucun pour l'instant",
        "waiting": "en attente ou retenus :",
        "next-try": " ; prochain essai {when}",
        "latest": "derniers documents :",
    },
    "de": {
        "running": "econnector: läuft (Prozess {pid})",
        "not-running": "econnector: läuft nicht, es werden keine Dokumente verarbeitet; "
        "informieren Sie die IT",
        "storage-paused": "ANGEHALTEN: In die Ordner kann nicht geschrieben werden "
        "({reason}); die Dokumente bleiben erhalten und werden von selbst fortgesetzt",
        "paused": "ANGEHALTEN ({code}): {message} {hint}",
        "outage": "WARTET ({code}): {message} Nächster Versuch: {when}. {hint}",
        "blocked": "GESPERRT ({code}): {message} {hint}",
        "blocked-list": "gesperrte Signaturidentitäten: {providers}",
        "folder": "WARTET ({code}): {message} {hint}",
        "counts": "Dokumente nach Status: {counts}",
        "none-yet": "noch keine",
        "waiting": "wartend oder zurückgehalten:",
        "next-try": "; nächster Versuch {when}",
        "latest": "neueste Dokumente:",
    },
}

# Document states as ``status`` names them, in the order a document goes through
# them. English keeps the state codes of the status files.
CLI_STATE_NAMES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "received": "received", "signed": "signed", "delivering": "delivering",
        "waiting-retry": "waiting-retry", "held": "held", "delivered": "delivered",
        "patient-opted-out": "patient-opted-out", "rejected": "rejected",
    },
    "fr": {
        "received": "reçu", "signed": "signé", "delivering": "en cours d'envoi",
        "waiting-retry": "nouvel essai prévu", "held": "retenu", "delivered": "remis",
        "patient-opted-out": "refus du patient", "rejected": "refusé",
    },
    "de": {
        "received": "empfangen", "signed": "signiert", "delivering": "wird gesendet",
        "waiting-retry": "neuer Versuch geplant", "held": "zurückgehalten",
        "delivered": "zugestellt", "patient-opted-out": "vom Patienten abgelehnt",
        "rejected": "abgelehnt",
    },
}

# Why a document waits or is held, in a few words, after its code in ``status``.
CLI_REASONS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "vault-unavailable": "the vault cannot be reached; econnector keeps trying",
        "vault-unauthorized": "the vault refuses econnector's access; tell IT",
        "vault-tls": "the vault's identity cannot be verified; tell IT",
        "file-busy": "another program is still using the file",
        "identity-locked": "the doctor's signing key is locked",
        "certificate-expired": "the doctor's certificate has expired",
        "certificate-not-yet-valid": "the doctor's certificate is not valid yet",
        "internal-error": "unexpected failure; tell IT",
    },
    "fr": {
        "vault-unavailable": "coffre-fort injoignable ; econnector réessaie",
        "vault-unauthorized": "le coffre-fort refuse l'accès ; prévenez le service "
        "informatique",
        "vault-tls": "identité du coffre-fort non vérifiable ; prévenez le service "
        "informatique",
        "file-busy": "un autre programme utilise encore le fichier",
        "identity-locked": "clé de signature du médecin verrouillée",
        "certificate-expired": "certificat du médecin expiré",
        "certificate-not-yet-valid": "certificat du médecin pas encore valable",
        "internal-error": "échec inattendu ; prévenez le service informatique",
    },
    "de": {
        "vault-unavailable": "Safe nicht erreichbar; econnector versucht es weiter",
        "vault-unauthorized": "der Safe verweigert den Zugang; informieren Sie die IT",
        "vault-tls": "Identität des Safes nicht überprüfbar; informieren Sie die IT",
        "file-busy": "ein anderes Programm verwendet die Datei noch",
        "identity-locked": "Signaturschlüssel des Arztes gesperrt",
        "certificate-expired": "Zertifikat des Arztes abgelaufen",
        "certificate-not-yet-valid": "Zertifikat des Arztes noch nicht gültig",
        "internal-error": "unerwarteter Fehler; informieren Sie die IT",
    },
}
